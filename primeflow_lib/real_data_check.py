"""``make check-real``: the flow engine, gamma exposure and the CSV backtest path on real data.

Runs, on the folder of :mod:`primeflow_lib.real_data`:

* **flow** on every Cboe DataShop trades file (``cboe_trades/*.csv``) and on the Databento OPRA
  DBN files (``databento/OPRA.PILLAR``): rows in / kept / quarantined by reason / duplicates /
  named drops, the accounting identity (rows in = kept + quarantined + named drops), events by
  type, structures by label, the share of condition-flagged spread legs that landed in
  structures, sides, late / unknown-condition / out-of-session prints;
* **stream = batch**: each tape replayed through the streaming path's incremental scorer
  (:mod:`primeflow_lib.live.stream.equivalence`) in chunks of 500 prints and in chunks of 1-9 (a
  live feed's frames): its orders against the batch's, cell by cell; every difference must be
  one the stream reported (a divergence), else it is a problem;
* **open interest** from the Databento ``statistics`` file;
* **gamma levels** of every Cboe chain export (``cboe_quotedata/*/*_quotedata.csv``): spot,
  flip, walls, regime, totals (USD of dealer delta per 1 % move), contracts used / expired /
  quarantined;
* **the CSV backtest path** on ``spy_1min/*.csv`` (the ``dual_sma`` preset).

:func:`run_checks` returns the rows of one table (section, source, measure, value) and the
problems found (an accounting mismatch, a file that fails); the command prints the table and
exits non-zero when there are problems.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from primeflow_lib.real_data import CBOE_QUOTEDATA, CBOE_TRADES, DATABENTO, SPY_1MIN


@dataclass
class CheckReport:
    """Rows ``(section, source, measure, value)`` and the problems found."""

    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, section: str, source: str, measure: str, value: Any) -> None:
        self.rows.append((section, source, measure, _fmt(value)))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["section", "source", "measure", "value"])


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_fmt(x)}" for k, x in v.items()) or "none"
    return str(v)


def flow_rows(rep: CheckReport, source: str, prints: pd.DataFrame, cfg: dict[str, Any],
              chain: pd.DataFrame | None = None) -> None:
    """Score one batch and add its rows (and an accounting problem, if any)."""
    from primeflow_lib.flow.engine import score_batch

    res = score_batch(prints, None, None, chain, cfg, source=source)
    st = res.stats["prints"]
    ev = res.events
    kept = len({x for ids in ev["print_ids"] for x in ids.split(",") if x}) if len(ev) else 0
    quarantined = int(res.quarantine["row_number"].nunique()) if len(res.quarantine) else 0
    drops = {
        "compression": st.get("compression_dropped", 0),
        "cancel records": st.get("cancels", 0) - st.get("cancels_unmatched", 0),
        "cancelled prints": st.get("cancelled_prints", 0),
    }
    n = len(prints)
    ok = n == kept + quarantined + sum(drops.values())
    s = "flow"
    rep.add(s, source, "rows in", n)
    rep.add(s, source, "kept (in events)", kept)
    rep.add(s, source, "quarantined", quarantined)
    rep.add(s, source, "quarantined by reason", res.stats["quarantined_by_reason"] or {})
    rep.add(s, source, "duplicates (same record twice)", st["duplicates"])
    rep.add(s, source, "named drops", drops)
    rep.add(s, source, "accounting in = kept + quarantined + drops", "holds" if ok else "BROKEN")
    rep.add(s, source, "events by type", res.stats["events_by_type"])
    rep.add(s, source, "structures by label", st.get("structures_by_label") or {})
    ml = st.get("multileg_prints", 0)
    if ml:
        got = st.get("multileg_prints_in_structures", 0)
        rep.add(s, source, "spread-flagged legs in structures", f"{got:,} / {ml:,} = {got / ml:.1%}")
    rep.add(s, source, "sides", res.stats["events_by_side"])
    rep.add(s, source, "late / out-of-session / unknown-condition prints",
            f"{st['late_prints']} / {st['out_of_session_prints']} / {st['unknown_condition_prints']}")
    if st.get("unknown_condition_codes"):
        rep.add(s, source, "unknown condition codes", st["unknown_condition_codes"])
    if st.get("venue_quote_prints"):
        rep.add(s, source, "prints with the venue's quote (confidence lowered)", st["venue_quote_prints"])
    if not ok:
        rep.problems.append(f"{source}: rows in {n} != kept {kept} + quarantined {quarantined} + "
                            f"drops {sum(drops.values())}")


def stream_rows(rep: CheckReport, source: str, prints: pd.DataFrame, cfg: dict[str, Any], *,
                by_contract: bool) -> None:
    """Replay ``prints`` through the streaming scorer and compare its orders with the batch's
    (module doc). ``by_contract``: the file is sorted by contract (a Cboe DataShop day), so its
    received order is rebuilt per contract (:func:`~primeflow_lib.live.stream.sources.received_order`);
    otherwise the rows are already in received order (a vendor's feed)."""
    import functools

    import numpy as np

    from primeflow_lib.flow.engine import score_batch
    from primeflow_lib.live.stream.equivalence import compare_orders, replay
    from primeflow_lib.live.stream.sources import received_order

    s = "stream"
    tape = received_order(prints, group="option_symbol") if by_contract else prints.reset_index(drop=True)
    dates = pd.to_datetime(tape["trade_date"], errors="coerce").dt.date
    days = sorted(set(dates.dropna()))
    for day in days:
        one = tape[dates == day].reset_index(drop=True)
        src = f"{source} {day}" if len(days) > 1 else source
        b = score_batch(one, None, None, None, cfg, source=src)
        # one seeded draw per print at most: the same chunks every run
        small = iter(np.random.default_rng(0).integers(1, 10, size=len(one) + 1).tolist())
        for label, chunks in (("chunks of 500", lambda: 500), ("chunks of 1-9", functools.partial(next, small))):
            r = replay(one, day, cfg, chunks=chunks, source=src)
            c = compare_orders(b.events, r.events, r.divergences)
            rep.add(s, src, f"orders batch / stream / identical ({label})",
                    f"{c.both + c.batch_only:,} / {c.both + c.stream_only:,} / {c.both - c.differing:,}")
            rep.add(s, src, f"divergences reported ({label})", c.divergences or {})
            if c.differing or c.batch_only or c.stream_only:
                rep.add(s, src, f"differing cells by column ({label})", c.columns or {})
            rep.add(s, src, f"differences a divergence accounts for ({label})",
                    "all" if not c.unexplained else f"NOT {len(c.unexplained):,} orders")
            if c.unexplained:
                rep.problems.append(f"{src}: the stream ({label}) differs from the batch on {len(c.unexplained)} "
                                    f"orders no divergence reports, e.g. {c.unexplained[:3]}")


def run_checks(root: Path, cfg: dict[str, Any], echo: Callable[[str], None] = lambda _: None) -> CheckReport:
    """Every check of the module doc on the folder ``root``."""
    from primeflow_lib.vendors.cboe.trades import read_option_trades

    rep = CheckReport()
    for f in sorted((root / CBOE_TRADES).glob("*.csv")):
        echo(f"flow: {f.name}")
        _guard(rep, f.name, lambda f=f: _cboe(rep, f, cfg, read_option_trades))
    opra = root / DATABENTO / "OPRA.PILLAR"
    if opra.is_dir():
        echo(f"flow: {opra}")
        _guard(rep, "databento OPRA.PILLAR", lambda: _databento(rep, opra, cfg))
    exports = sorted((root / CBOE_QUOTEDATA).glob("*/*_quotedata.csv"))
    for f in exports:
        echo(f"gex: {f.parent.name}/{f.name}")
        _guard(rep, f.name, lambda f=f: _gex(rep, f, cfg))
    for f in sorted((root / SPY_1MIN).glob("*.csv")):
        echo(f"backtest: {f.name}")
        _guard(rep, f.name, lambda f=f: _backtest(rep, f))
    if not rep.rows:
        rep.problems.append(f"{root}: no real data file found in {CBOE_TRADES}/, {DATABENTO}/, "
                            f"{CBOE_QUOTEDATA}/ or {SPY_1MIN}/")
    return rep


def _guard(rep: CheckReport, source: str, fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - every failure is reported in the table and fails the run
        rep.add("error", source, type(exc).__name__, str(exc)[:200])
        rep.problems.append(f"{source}: {type(exc).__name__}: {exc}")


def _cboe(rep: CheckReport, f: Path, cfg: dict[str, Any], read) -> None:
    prints, imp = read(f)
    rep.add("import", f.name, "rows read / flags", f"{imp.rows_in:,} / {imp.flags}")
    flow_rows(rep, f.name, prints, cfg)
    stream_rows(rep, f.name, prints, cfg, by_contract=True)


def _databento(rep: CheckReport, folder: Path, cfg: dict[str, Any]) -> None:
    from primeflow_lib.vendors.databento.files import DbnFiles

    files = DbnFiles([folder])
    prints, schema = files.prints()
    rep.add("import", "databento OPRA.PILLAR", "print schema used", schema)
    chain = files.chain()
    for _, r in chain.iterrows():
        rep.add("open interest", "databento statistics", f"{r.option_symbol} {r.trade_date}", int(r.open_interest))
    flow_rows(rep, f"databento {schema}", prints, cfg)
    stream_rows(rep, f"databento {schema}", prints, cfg, by_contract=False)


def _gex(rep: CheckReport, f: Path, cfg: dict[str, Any]) -> None:
    from primeflow_lib.flow.gex_file import export_levels

    el = export_levels(f, cfg["gex"])
    lv = el.result.levels.iloc[0]
    st = el.result.stats
    src = f"{lv.underlying} {lv.trade_date:%Y-%m-%d} ({f.parent.name.split('+')[0]})"
    rep.add("gex", src, "spot / flip / call wall / put wall (USD)",
            f"{lv.spot:,.2f} / {lv.zero_gamma:,.2f} / {lv.call_wall:,.2f} / {lv.put_wall:,.2f}")
    rep.add("gex", src, "regime / total GEX (USD of delta per 1% move)",
            f"{lv.regime} / {lv.total_gex / 1e6:,.1f} M")
    rep.add("gex", src, "contracts used / expired / quarantined",
            f"{st['contracts_used']:,} / {st['contracts_expired']:,} / {st['quarantined']:,}")


def _backtest(rep: CheckReport, f: Path) -> None:
    from primeflow_lib.research.data import load_csv
    from primeflow_lib.research.presets import preset
    from primeflow_lib.research.runner import run_backtest

    bars = load_csv(f)
    # the files hold 1-minute bars: the preset's dataset says daily, and the plausibility check
    # judges a daily bar's range against whole sessions, a minute's against sessions
    res = run_backtest(preset("dual_sma", symbol=f.stem, dataset={"timeframe": "1m"}), bars)
    m = res.metrics
    rep.add("backtest", f.name, "bars / trades (dual_sma)", f"{len(bars):,} / {int(m.get('n_trades', 0)):,}")
    rep.add("backtest", f.name, "final equity / max drawdown",
            f"{m.get('final_equity', float('nan')):,.2f} / {m.get('max_drawdown', float('nan')):.2%}")
