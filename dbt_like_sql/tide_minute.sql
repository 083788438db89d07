-- depends_on: flow.flow_events, market.ohlcv_intraday
-- description: Net-premium tide in 1-minute steps per ticker (scope 'ticker') and market-wide (scope 'market', name 'ALL'): premium of calls bought at the ask side (above_ask, ask, to_ask) plus puts sold at the bid side (bid, below_bid, to_bid), minus calls sold at the bid side and puts bought at the ask side, with the call and put parts and their running sums over the session. Directional, on-time orders only (multi-leg, stock-option, mid and late prints are left out). An order counts in the minute of its last print; price is the ticker's 1-minute close of that minute (NULL for the market rows: the views add the benchmark's).
WITH flow AS (
    SELECT trade_date, ticker, date_trunc('minute', last_ts) AS minute,
           sum(premium) FILTER (WHERE "right" = 'C' AND side IN ('above_ask', 'ask', 'to_ask')) AS call_ask_premium,
           sum(premium) FILTER (WHERE "right" = 'C' AND side IN ('bid', 'below_bid', 'to_bid')) AS call_bid_premium,
           sum(premium) FILTER (WHERE "right" = 'P' AND side IN ('above_ask', 'ask', 'to_ask')) AS put_ask_premium,
           sum(premium) FILTER (WHERE "right" = 'P' AND side IN ('bid', 'below_bid', 'to_bid')) AS put_bid_premium,
           count(*) FILTER (WHERE side <> 'mid') AS orders
    FROM flow.flow_events
    WHERE NOT non_directional AND NOT is_late
    GROUP BY ALL
),
days AS (SELECT DISTINCT trade_date, ticker FROM flow),
bars AS (
    SELECT b.trade_date, b.ticker, b.ts AS minute, b.close
    FROM market.ohlcv_intraday b JOIN days USING (trade_date, ticker)
),
grid AS (
    SELECT coalesce(b.trade_date, f.trade_date) AS trade_date, coalesce(b.ticker, f.ticker) AS ticker,
           coalesce(b.minute, f.minute) AS minute, b.close AS price,
           coalesce(f.call_ask_premium, 0) AS call_ask_premium, coalesce(f.call_bid_premium, 0) AS call_bid_premium,
           coalesce(f.put_ask_premium, 0) AS put_ask_premium, coalesce(f.put_bid_premium, 0) AS put_bid_premium,
           coalesce(f.orders, 0) AS orders
    FROM bars b FULL OUTER JOIN flow f USING (trade_date, ticker, minute)
),
market AS (
    SELECT trade_date, minute, sum(call_ask_premium) AS call_ask_premium, sum(call_bid_premium) AS call_bid_premium,
           sum(put_ask_premium) AS put_ask_premium, sum(put_bid_premium) AS put_bid_premium, sum(orders) AS orders
    FROM grid GROUP BY ALL
),
scoped AS (
    SELECT 'ticker' AS scope, ticker AS name, trade_date, minute, price, call_ask_premium, call_bid_premium,
           put_ask_premium, put_bid_premium, orders FROM grid
    UNION ALL
    SELECT 'market' AS scope, 'ALL' AS name, trade_date, minute, NULL::DOUBLE AS price, call_ask_premium,
           call_bid_premium, put_ask_premium, put_bid_premium, orders FROM market
)
SELECT scope, name, trade_date, minute, price, call_ask_premium, call_bid_premium, put_ask_premium, put_bid_premium,
       call_ask_premium - call_bid_premium AS net_call_premium,
       put_ask_premium - put_bid_premium AS net_put_premium,
       (call_ask_premium - call_bid_premium) - (put_ask_premium - put_bid_premium) AS net_premium,
       sum(call_ask_premium - call_bid_premium) OVER w AS cum_net_call_premium,
       sum(put_ask_premium - put_bid_premium) OVER w AS cum_net_put_premium,
       sum((call_ask_premium - call_bid_premium) - (put_ask_premium - put_bid_premium)) OVER w AS cum_net_premium,
       orders
FROM scoped
WINDOW w AS (PARTITION BY scope, name, trade_date ORDER BY minute ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY scope, name, trade_date, minute
