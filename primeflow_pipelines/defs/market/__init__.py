"""Market data assets: universe, bars, option chains."""
