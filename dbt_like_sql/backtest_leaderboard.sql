-- depends_on: research.backtest_runs
-- description: Every recorded backtest (equities and options: mode column) ranked by Sharpe within its symbol, timeframe and mode, with the headline metrics.
SELECT
    rank() OVER (PARTITION BY symbol, timeframe, mode ORDER BY sharpe DESC NULLS LAST) AS rank_in_symbol,
    run_id, strategy, mode, tags, symbol, timeframe, first_bar, last_bar, n_bars,
    total_return, cagr, sharpe, sortino, calmar, max_drawdown, profit_factor, win_rate,
    n_trades, final_equity, vendor, created_at
FROM research.backtest_runs
ORDER BY symbol, timeframe, mode, rank_in_symbol
