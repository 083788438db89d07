"""Interactive Altair charts (Streamlit's built-in charting): equity and drawdown curves,
several runs on one chart, and in-sample vs out-of-sample scatter."""

from __future__ import annotations

import altair as alt
import pandas as pd


def _segments(enc: dict, curves: pd.DataFrame) -> None:
    # a "segment" column (primeflow_lib.workbench.explain.gap_segments) splits a line at every gap
    # in the data: each stretch is drawn alone, never a straight line across missing sessions
    if "segment" in curves.columns:
        enc["detail"] = alt.Detail("segment:N")


def equity_chart(curves: pd.DataFrame, *, by: str | None = None, height: int = 280) -> alt.Chart:
    """Equity (USD) over time; one line per value of ``by`` (e.g. ``run_id``) when given, broken
    at gaps when ``curves`` has a ``segment`` column. Scroll or drag to zoom and pan in time,
    hover for values."""
    enc = {"x": alt.X("ts:T", title=None), "y": alt.Y("equity:Q", title="equity (USD)",
                                                      scale=alt.Scale(zero=False)),
           "tooltip": ["ts:T", alt.Tooltip("equity:Q", format=",.0f")]}
    _segments(enc, curves)
    if by:
        enc["color"] = alt.Color(f"{by}:N", title=by)
        enc["tooltip"].insert(0, f"{by}:N")
    return alt.Chart(curves).mark_line().encode(**enc).properties(height=height).interactive(
        bind_y=False)


def drawdown_chart(curves: pd.DataFrame, *, by: str | None = None, height: int = 160) -> alt.Chart:
    """Drawdown (fraction below the running peak, <= 0) over time (broken at gaps like
    :func:`equity_chart`)."""
    enc = {"x": alt.X("ts:T", title=None),
           "y": alt.Y("drawdown:Q", title="drawdown", axis=alt.Axis(format="%")),
           "tooltip": ["ts:T", alt.Tooltip("drawdown:Q", format=".2%")]}
    _segments(enc, curves)
    if by:
        enc["color"] = alt.Color(f"{by}:N", title=by)
        mark = alt.Chart(curves).mark_line()
    else:
        mark = alt.Chart(curves).mark_area(opacity=0.5, color="#e4572e")
    return mark.encode(**enc).properties(height=height).interactive(bind_y=False)


def scatter(df: pd.DataFrame, x: str, y: str, *, color: str | None = None) -> alt.Chart:
    """A scatter of two numeric columns with a y = x reference line (points below the line did
    worse out of sample than in sample)."""
    lo = float(min(df[x].min(), df[y].min()))
    hi = float(max(df[x].max(), df[y].max()))
    enc = {"x": alt.X(f"{x}:Q", title=x), "y": alt.Y(f"{y}:Q", title=y),
           "tooltip": list(df.columns[:12])}
    if color:
        enc["color"] = alt.Color(f"{color}:N")
    points = alt.Chart(df).mark_circle(size=60).encode(**enc)
    line = alt.Chart(pd.DataFrame({x: [lo, hi], y: [lo, hi]})).mark_line(
        strokeDash=[4, 4], color="gray").encode(x=f"{x}:Q", y=f"{y}:Q")
    return (points + line).properties(height=320).interactive()


def gex_by_strike(df: pd.DataFrame, spot: float | None = None, height: int = 260) -> alt.Chart:
    """Net dealer GEX per strike (``market.gamma_by_strike.net_gex``, USD per 1 % move) as
    bars, positive green and negative red, with the snapshot's spot as a dashed rule."""
    bars = alt.Chart(df).mark_bar().encode(
        x=alt.X("strike:Q", title="strike (USD)"),
        y=alt.Y("net_gex:Q", title="net GEX (USD per 1 % move)"),
        color=alt.condition("datum.net_gex >= 0", alt.value("#2a9d8f"), alt.value("#e4572e")),
        tooltip=["strike:Q", alt.Tooltip("net_gex:Q", format=",.0f"),
                 alt.Tooltip("call_gex:Q", format=",.0f"), alt.Tooltip("put_gex:Q", format=",.0f"),
                 "call_oi:Q", "put_oi:Q"])
    if spot is None:
        return bars.properties(height=height)
    rule = alt.Chart(pd.DataFrame({"spot": [float(spot)]})).mark_rule(
        strokeDash=[4, 4], color="gray").encode(x="spot:Q")
    return (bars + rule).properties(height=height)
