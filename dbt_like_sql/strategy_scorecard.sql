-- depends_on: flow.signals, live.paper_positions
-- description: Per strategy: signals, closed paper trades, win rate (return > 0), average and total underlying return, TP/SL/TIMEOUT counts, average strength and option-leg P&L.
SELECT
    s.kind,
    count(*)                                                        AS signals,
    count(*) FILTER (WHERE p.status = 'CLOSED')                     AS closed,
    avg(CASE WHEN p.return_pct > 0 THEN 1.0 ELSE 0.0 END) FILTER (WHERE p.status = 'CLOSED') AS win_rate,
    avg(p.return_pct) FILTER (WHERE p.status = 'CLOSED')            AS avg_return,
    sum(p.return_pct) FILTER (WHERE p.status = 'CLOSED')            AS total_return,
    count(*) FILTER (WHERE p.exit_reason = 'TP')                    AS tp,
    count(*) FILTER (WHERE p.exit_reason = 'SL')                    AS sl,
    count(*) FILTER (WHERE p.exit_reason = 'TIMEOUT')               AS timeout,
    count(*) FILTER (WHERE p.status IN ('OPEN', 'PENDING'))         AS open,
    avg(s.strength)                                                 AS avg_strength,
    avg(p.option_pnl) FILTER (WHERE p.status = 'CLOSED')            AS avg_option_pnl_usd
FROM flow.signals s
LEFT JOIN live.paper_positions p USING (signal_id)
GROUP BY s.kind
ORDER BY s.kind
