"""Near-live: the inbox sensor and the job that scores a batch and delivers its alerts."""
