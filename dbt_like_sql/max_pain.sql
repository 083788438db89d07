-- depends_on: market.option_chain
-- description: Max pain per chain snapshot, underlying and expiry: the listed strike at which the options of that expiry would pay their holders the least if the underlying settled there (calls pay (settle - strike) x OI x 100 below it, puts (strike - settle) x OI x 100 above it), with that payout in USD, the snapshot's spot and the distance. Open interest at the start of the snapshot's session; expiries at or before the snapshot and rows without OI are left out; ties go to the lowest strike.
WITH oi AS (
    SELECT trade_date, underlying, expiry, strike,
           coalesce(sum(open_interest) FILTER (WHERE "right" = 'C'), 0) AS call_oi,
           coalesce(sum(open_interest) FILTER (WHERE "right" = 'P'), 0) AS put_oi,
           median(underlying_price) AS spot, min(vendor) AS vendor
    FROM market.option_chain
    WHERE expiry > trade_date AND open_interest IS NOT NULL AND strike > 0
    GROUP BY ALL
),
cum AS (
    SELECT *,
           sum(call_oi) OVER up AS c_oi, sum(call_oi * strike) OVER up AS c_koi,
           sum(put_oi) OVER down AS p_oi, sum(put_oi * strike) OVER down AS p_koi
    FROM oi
    WINDOW up AS (PARTITION BY trade_date, underlying, expiry ORDER BY strike ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
           down AS (PARTITION BY trade_date, underlying, expiry ORDER BY strike DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
payout AS (
    SELECT *, 100 * ((strike * c_oi - c_koi) + (p_koi - strike * p_oi)) AS payout_usd FROM cum
)
SELECT trade_date, underlying, expiry,
       first(strike ORDER BY payout_usd, strike) AS max_pain,
       min(payout_usd) AS payout_usd,
       median(spot) AS spot,
       first(strike ORDER BY payout_usd, strike) / median(spot) - 1 AS max_pain_dist,
       sum(call_oi) AS call_oi, sum(put_oi) AS put_oi, count(*) AS strikes,
       date_diff('day', trade_date, expiry) AS dte, min(vendor) AS vendor
FROM payout
GROUP BY trade_date, underlying, expiry
ORDER BY trade_date, underlying, expiry
