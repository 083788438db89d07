"""Altair charts of the trader's desk pages: the tide with the price on a second axis, values
by strike (two series side by side, spot as a rule) and simple lines."""

from __future__ import annotations

import altair as alt
import pandas as pd

TIDE_SERIES = {"cum_net_premium": "net premium", "cum_net_call_premium": "net call premium",
               "cum_net_put_premium": "net put premium"}


def tide_chart(df: pd.DataFrame, price_label: str | None, height: int = 320) -> alt.Chart:
    """Cumulative net premium (net, calls, puts; USD) through the session on the left axis and
    the price (USD) on the right one; hover for values, drag to zoom in time."""
    long = df.melt(id_vars=["minute"], value_vars=list(TIDE_SERIES), var_name="series", value_name="usd")
    long["series"] = long["series"].map(TIDE_SERIES)
    lines = alt.Chart(long).mark_line().encode(
        x=alt.X("minute:T", title=None),
        y=alt.Y("usd:Q", title="cumulative net premium (USD)", axis=alt.Axis(format="~s")),
        color=alt.Color("series:N", title=None, scale=alt.Scale(
            domain=list(TIDE_SERIES.values()), range=["#f4a261", "#2a9d8f", "#e4572e"])),
        tooltip=["minute:T", "series:N", alt.Tooltip("usd:Q", format=",.0f")])
    if price_label is None or "price" not in df.columns or df["price"].isna().all():
        return lines.properties(height=height).interactive(bind_y=False)
    price = alt.Chart(df).mark_line(color="#8d99ae", strokeDash=[3, 2]).encode(
        x="minute:T", y=alt.Y("price:Q", title=f"{price_label} price (USD)", scale=alt.Scale(zero=False)),
        tooltip=["minute:T", alt.Tooltip("price:Q", format=",.2f")])
    return alt.layer(lines, price).resolve_scale(y="independent").properties(height=height).interactive(
        bind_y=False)


def by_strike(df: pd.DataFrame, series: dict[str, str], y_title: str, spot: float | None = None,
              height: int = 280) -> alt.Chart:
    """Bars per strike of the ``series`` columns (column -> label) side by side, with spot as a
    dashed rule."""
    long = df.melt(id_vars=["strike"], value_vars=list(series), var_name="series", value_name="value")
    long["series"] = long["series"].map(series)
    bars = alt.Chart(long).mark_bar(opacity=0.85).encode(
        x=alt.X("strike:Q", title="strike (USD)"),
        y=alt.Y("value:Q", title=y_title, axis=alt.Axis(format="~s")),
        color=alt.Color("series:N", title=None),
        xOffset="series:N",
        tooltip=["strike:Q", "series:N", alt.Tooltip("value:Q", format=",.0f")])
    layers = [bars]
    if spot is not None and pd.notna(spot):
        layers.append(alt.Chart(pd.DataFrame({"spot": [float(spot)]})).mark_rule(
            strokeDash=[4, 4], color="gray").encode(x="spot:Q", tooltip=[alt.Tooltip("spot:Q", format=",.2f")]))
    return alt.layer(*layers).properties(height=height).interactive(bind_y=False)


def line(df: pd.DataFrame, x: str, y: str, *, x_type: str = "T", y_title: str | None = None,
         y_format: str = ".1%", points: bool = True, height: int = 240) -> alt.Chart:
    """One line of ``y`` over ``x`` with points and tooltips."""
    mark = alt.Chart(df).mark_line(point=points)
    return mark.encode(x=alt.X(f"{x}:{x_type}", title=x), y=alt.Y(f"{y}:Q", title=y_title or y,
                                                               axis=alt.Axis(format=y_format),
                                                               scale=alt.Scale(zero=False)),
                       tooltip=[f"{x}:{x_type}", alt.Tooltip(f"{y}:Q", format=y_format)]).properties(height=height)
