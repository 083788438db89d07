-- depends_on: flow.flow_events
-- description: Per session and ticker: orders by type, directional premium (bullish, bearish, net) and the call/put premium ratio. Non-directional (multi-leg, stock-option) and late orders are counted but carry no direction.
SELECT
    trade_date,
    ticker,
    count(*)                                                            AS orders,
    count(*) FILTER (WHERE event_type = 'sweep')                        AS sweeps,
    count(*) FILTER (WHERE event_type = 'block')                        AS blocks,
    count(*) FILTER (WHERE non_directional)                             AS non_directional_orders,
    sum(premium)                                                        AS premium,
    sum(premium) FILTER (WHERE sentiment = 'bullish' AND NOT is_late)   AS bullish_premium,
    sum(premium) FILTER (WHERE sentiment = 'bearish' AND NOT is_late)   AS bearish_premium,
    coalesce(sum(premium) FILTER (WHERE sentiment = 'bullish' AND NOT is_late), 0)
      - coalesce(sum(premium) FILTER (WHERE sentiment = 'bearish' AND NOT is_late), 0) AS net_premium,
    sum(premium) FILTER (WHERE "right" = 'C') / nullif(sum(premium) FILTER (WHERE "right" = 'P'), 0) AS call_put_premium_ratio,
    any_value(vendor)                                                   AS vendor
FROM flow.flow_events
GROUP BY trade_date, ticker
ORDER BY trade_date, premium DESC
