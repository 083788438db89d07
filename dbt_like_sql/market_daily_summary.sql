-- depends_on: market.ohlcv_daily, market.universe
-- description: One row per session: universe breadth (advancers, decliners), total share volume and median range.
SELECT
    d.trade_date,
    count(*)                                              AS tickers,
    count(*) FILTER (WHERE d.close > d.open)              AS advancers,
    count(*) FILTER (WHERE d.close < d.open)              AS decliners,
    sum(d.volume)                                         AS total_volume,
    median((d.high - d.low) / d.open)                     AS median_range_pct,
    any_value(d.vendor)                                   AS vendor
FROM market.ohlcv_daily d
JOIN market.universe u USING (trade_date, ticker)
GROUP BY d.trade_date
ORDER BY d.trade_date
