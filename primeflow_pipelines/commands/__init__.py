"""The ``primeflow`` command line, one module per command group."""
