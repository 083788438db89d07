-- depends_on: flow.flow_events
-- description: Directional, on-time orders that meet Massive's documented unusual-trades rule (premium >= $100k, or size >= 1,000 contracts, or an intermarket sweep, condition 219), largest first per session, with volume vs open interest.
SELECT
    trade_date, last_ts AS ts, ticker, option_symbol, event_type, side, sentiment,
    premium, size, n_exchanges, has_iso, day_volume, open_interest, vol_oi, otm_pct, dte, iv,
    vendor
FROM flow.flow_events
WHERE NOT non_directional AND NOT is_late
  AND (premium >= 100000 OR size >= 1000 OR has_iso)
ORDER BY trade_date, premium DESC
