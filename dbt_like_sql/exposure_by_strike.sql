-- depends_on: market.greek_exposure
-- description: Dealer exposure per chain snapshot, underlying and strike (every expiry summed): GEX (USD of dealer delta per 1 % move), DEX (USD of underlying held), vanna (USD of delta per +1 volatility point) and charm (USD of delta per calendar day), each also split into the 0DTE part (contracts expiring in the session after the snapshot) and the rest, under the sign convention named in each row (an assumption: dealer books are not public). Written from market.greek_exposure.
SELECT trade_date, underlying, strike, convention, any_value(spot) AS spot,
       sum(gex) AS gex, sum(dex) AS dex, sum(vanna) AS vanna, sum(charm) AS charm,
       coalesce(sum(gex) FILTER (WHERE zero_dte), 0) AS gex_0dte,
       coalesce(sum(dex) FILTER (WHERE zero_dte), 0) AS dex_0dte,
       coalesce(sum(vanna) FILTER (WHERE zero_dte), 0) AS vanna_0dte,
       coalesce(sum(charm) FILTER (WHERE zero_dte), 0) AS charm_0dte,
       coalesce(sum(gex) FILTER (WHERE NOT zero_dte), 0) AS gex_rest,
       coalesce(sum(dex) FILTER (WHERE NOT zero_dte), 0) AS dex_rest,
       coalesce(sum(vanna) FILTER (WHERE NOT zero_dte), 0) AS vanna_rest,
       coalesce(sum(charm) FILTER (WHERE NOT zero_dte), 0) AS charm_rest,
       sum(call_oi) AS call_oi, sum(put_oi) AS put_oi, sum(contracts) AS contracts,
       string_agg(DISTINCT vendor, '+') AS vendor
FROM market.greek_exposure
GROUP BY trade_date, underlying, strike, convention
ORDER BY trade_date, underlying, strike
