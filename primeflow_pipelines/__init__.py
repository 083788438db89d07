"""PrimeFlow Dagster project."""
