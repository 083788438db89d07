"""The CLI, one module per command group."""
