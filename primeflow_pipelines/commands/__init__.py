"""The CLI, one module per command group (registered in ``primeflow_pipelines.cli``)."""
