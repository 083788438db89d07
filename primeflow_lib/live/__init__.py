"""Near-live flow: the inbox of print batches and the feeds that fill it."""
