"""Research assets: indicator signals, regimes, blends, backtest runs."""
