-- depends_on: flow.signals, live.paper_positions
-- description: Every daily signal with its paper-trade outcome (TP / SL / TIMEOUT, or still OPEN / PENDING), underlying return and the option leg's estimated P&L.
SELECT
    s.trade_date, s.ts, s.signal_id, s.kind, s.ticker, s.option_symbol, s.direction,
    s.strength, s.tags, s.event_type, s.premium,
    p.status, p.exit_reason, p.entry_ts, p.entry_price, p.exit_ts, p.exit_price,
    p.return_pct, p.option_pnl, p.option_return_pct,
    coalesce(p.exit_reason, p.status, 'NO_POSITION') AS outcome,
    s.vendor
FROM flow.signals s
LEFT JOIN live.paper_positions p USING (signal_id)
ORDER BY s.ts
