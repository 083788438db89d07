"""Step 5 of the Backtest page in options mode: the main fields of the RunConfig ``options:``
section (:mod:`primeflow_lib.research.options.spec`; defaults from ``OptionsSpec`` or the
preset, validation by ``RunConfig.from_dict``), and the legs and IV-source note of a run."""

from __future__ import annotations

from typing import Any

import streamlit as st

from primeflow_lib.research.options.spec import IV_SOURCES, STRIKE_RULES
from primeflow_lib.workbench import backtests as bt


def section(base: dict[str, Any], k: str) -> dict[str, Any]:
    """The form's ``options:`` section (widget keys prefixed ``k``, per preset). Only the main
    fields are shown; the rest keep their defaults (or the preset's values)."""
    o = bt.options_defaults(base)
    structures = ["none", *bt.structure_names()]
    st.caption("The blended signal picks the structure: bullish (signal >= entry threshold), "
               "bearish (<= -threshold) or neutral (in between); `none` opens nothing. The "
               "values are checked by the RunConfig `options:` section (docs/options.md).")
    c = st.columns(3)
    options = {side: c[n].selectbox(f"{side} structure", structures,
                                    index=structures.index(o[side] or "none"),
                                    key=f"{k}opt_{side}")
               for n, side in enumerate(("bullish", "bearish", "neutral"))}
    c = st.columns(6)
    options["dte"] = c[0].number_input("DTE (calendar days)", value=int(o["dte"]), step=1,
                                       key=k + "opt_dte")
    options["dte_rule"] = c[1].selectbox("expiry pick", ["nearest", "first_after"],
                                         index=["nearest", "first_after"].index(o["dte_rule"]),
                                         key=k + "opt_dte_rule")
    options["expiry_cycle"] = c[2].selectbox(
        "expiry cycle", ["monthly", "weekly"], index=["monthly", "weekly"].index(o["expiry_cycle"]),
        key=k + "opt_cycle")
    options["strike_by"] = c[3].selectbox("strike rule", list(STRIKE_RULES),
                                          index=STRIKE_RULES.index(o["strike_by"]),
                                          key=k + "opt_strike_by")
    options["width"] = c[4].number_input("wing width (USD)", value=float(o["width"]), step=1.0,
                                         key=k + "opt_width")
    options["contracts"] = c[5].number_input("structures per trade", value=int(o["contracts"]),
                                             step=1, key=k + "opt_contracts")
    c = st.columns(6)
    rule = options["strike_by"]
    if rule == "delta":
        options["short_delta"] = c[0].number_input("short |delta|", value=float(o["short_delta"]),
                                                   step=0.05, key=k + "opt_sdelta")
        options["long_delta"] = c[1].number_input("long |delta|", value=float(o["long_delta"]),
                                                  step=0.05, key=k + "opt_ldelta")
    elif rule == "moneyness":
        options["moneyness"] = c[0].number_input("moneyness (fraction OTM)",
                                                 value=float(o["moneyness"]), step=0.01,
                                                 key=k + "opt_money")
    else:
        options["offset"] = c[0].number_input("offset (USD OTM)", value=float(o["offset"]),
                                              step=1.0, key=k + "opt_offset")
    options["profit_take"] = c[2].number_input(
        "profit take (fraction)", value=o["profit_take"], step=0.05, key=k + "opt_pt",
        help="credits: close at this fraction of max profit; debits: at this fraction of the "
             "debit. Empty = no profit take.")
    options["stop"] = c[3].number_input(
        "stop (x credit/debit)", value=o["stop"], step=0.25, key=k + "opt_stop",
        help="close when the loss reaches this multiple of the credit/debit. Empty = no stop.")
    dte_exit = c[4].number_input("DTE exit (days)", value=o["dte_exit"], step=1,
                                 key=k + "opt_dte_exit", help="Empty = hold to expiry.")
    options["dte_exit"] = int(dte_exit) if dte_exit is not None else None
    options["iv_source"] = c[5].radio(
        "IV source", list(IV_SOURCES), index=IV_SOURCES.index(o["iv_source"]),
        key=k + "opt_iv",
        help="chain: market.option_chain IV from the read copy (a decision bar without a "
             "snapshot is an error); realized: the realised-vol proxy")
    if options["iv_source"] == "realized":
        options["vol_window"] = st.number_input("realised-vol window (bars)",
                                                value=int(o["vol_window"]), step=1,
                                                key=k + "opt_volwin")
    for side in ("bullish", "bearish", "neutral"):
        options[side] = None if options[side] == "none" else options[side]
    return {**o, **options}


def legs(result, recorded: bool) -> None:
    """The option legs of an options run (result.legs: research.backtest_legs without run_id)."""
    n = len(result.legs) if result.legs is not None else 0
    if recorded:
        stored = bt.legs(result.run_id)
        st.caption(f"{n} legs; {0 if stored is None else len(stored)} stored in "
                   "research.backtest_legs")
    else:
        st.caption(f"{n} legs (not recorded)")
    if n:
        st.dataframe(result.legs, hide_index=True)


def iv_note(result) -> None:
    """Say which volatility priced the legs: chain IV, or the realised-vol proxy."""
    if result.iv_source == "realized":
        st.warning(f"Realised-vol proxy used (no option chain IV): {result.iv_note}")
    else:
        st.info(f"IV from the option chain: {result.iv_note}")
