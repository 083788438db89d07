-- depends_on: market.gamma_exposure
-- description: Dealer gamma levels per session and underlying (from the chain snapshot after that session's close, so they apply to the next session): total GEX in USD millions per 1 % move, the regime at the snapshot's spot (the sign of the total there: POSITIVE or NEGATIVE gamma), the flip and the call / put walls with their distance from spot, the share of |GEX| within 2 % of spot, and the sign convention assumed. (market.gamma_by_strike is written by the same asset as market.gamma_exposure, in the same transaction.)
WITH near AS (
    SELECT s.trade_date, s.underlying,
           sum(abs(s.net_gex)) FILTER (WHERE abs(s.strike / g.spot - 1) <= 0.02) / nullif(sum(abs(s.net_gex)), 0)
               AS share_within_2pct
    FROM market.gamma_by_strike s
    JOIN market.gamma_exposure g USING (trade_date, underlying)
    GROUP BY ALL
)
SELECT
    g.trade_date,
    g.underlying,
    g.convention,
    g.spot,
    round(g.total_gex / 1e6, 3) AS total_gex_musd,
    CASE WHEN g.total_gex > 0 THEN 'POSITIVE' WHEN g.total_gex < 0 THEN 'NEGATIVE' ELSE 'UNKNOWN' END
        AS gex_regime,
    g.zero_gamma,
    g.zero_gamma / g.spot - 1 AS flip_dist,
    g.flip_crossings,
    g.call_wall,
    g.call_wall / g.spot - 1 AS call_wall_dist,
    g.put_wall,
    g.put_wall / g.spot - 1 AS put_wall_dist,
    n.share_within_2pct,
    g.contracts_used,
    g.contracts_expired,
    g.contracts_quarantined,
    g.vendor
FROM market.gamma_exposure g
LEFT JOIN near n USING (trade_date, underlying)
ORDER BY g.trade_date, abs(g.total_gex) DESC
