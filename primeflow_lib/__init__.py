"""PrimeFlow domain library (pure Python, never imports dagster)."""
