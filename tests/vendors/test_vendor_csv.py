"""CsvVendor: layout, strict parsing with precise errors, and symbols that cannot escape the
folder (property test)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from primeflow_lib.schema.market import OHLCV_DAILY, OHLCV_INTRADAY, UNIVERSE
from primeflow_lib.vendors import get_vendor
from primeflow_lib.vendors.base import UnknownTickerError, VendorDataError, VendorError
from primeflow_lib.vendors.csv_vendor import CsvVendor

DAILY = """Date,Open,High,Low,Close,Volume,VWAP,Note
2025-06-12,273.41,277.10,272.90,276.49,2831220,275.1,x
2025-06-11,275.00,276.80,271.34,273.14,3110245,,y
2025-06-13,276.02,278.75,272.66,272.82,3326931,274.9,z
"""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / name
    p.write_text(text)
    return p


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "csv"
    write(d, "IBM.csv", DAILY)
    write(d, "BRK.B.csv", DAILY.replace("3326931", "100"))
    write(
        d,
        "IBM_1m.csv",
        "datetime,open,high,low,close,volume\n"
        "2025-06-13 09:29:00,1,1,1,1,10\n"
        "2025-06-13 09:30:00,2,2,2,2,20\n"
        "2025-06-13T13:31:00+00:00,3,3,3,3,30\n"  # 09:31 New York
        "2025-06-13 16:00:00,4,4,4,4,40\n",
    )
    return d


def test_from_config_uses_csv_dir(vendor_cfg, folder):
    v = get_vendor("csv", vendor_cfg)
    assert isinstance(v, CsvVendor) and v.folder == folder
    v.check_ready("bars")
    v.check_ready("universe")
    with pytest.raises(VendorError, match="does not provide 'chain'"):
        v.check_ready("chain")


def test_missing_folder_fails_at_check_ready(tmp_path):
    with pytest.raises(VendorError, match="does not exist"):
        CsvVendor(tmp_path / "nope").check_ready("bars")


def test_daily_bars(folder):
    bars = CsvVendor(folder).daily_bars(
        ["IBM", "brk.b"], dt.date(2025, 6, 11), dt.date(2025, 6, 12)
    )
    assert list(bars.columns) == OHLCV_DAILY.column_names
    assert bars["ticker"].tolist() == ["IBM", "IBM", "BRK.B", "BRK.B"]
    assert bars["trade_date"].tolist()[:2] == [dt.date(2025, 6, 11), dt.date(2025, 6, 12)]
    assert pd.isna(bars.loc[0, "vwap"]) and bars.loc[1, "vwap"] == 275.1
    assert set(bars["vendor"]) == {"csv"}


def test_intraday_bars_regular_session_and_offsets(folder):
    bars = CsvVendor(folder).intraday_bars(["IBM"], dt.date(2025, 6, 13), dt.date(2025, 6, 13))
    assert list(bars.columns) == OHLCV_INTRADAY.column_names
    assert bars["ts"].tolist() == [
        pd.Timestamp("2025-06-13 09:30"),
        pd.Timestamp("2025-06-13 09:31"),
    ]


def test_missing_file_and_empty_range_are_named(folder):
    with pytest.raises(VendorDataError) as ei:
        CsvVendor(folder).daily_bars(["IBM", "MSFT"], dt.date(2025, 6, 11), dt.date(2025, 6, 13))
    assert ei.value.failed_tickers == ["MSFT"] and "no file MSFT.csv" in str(ei.value)
    assert len(ei.value.partial) == 3
    with pytest.raises(VendorDataError, match="no daily bars between 2025-01-01"):
        CsvVendor(folder).daily_bars(["IBM"], dt.date(2025, 1, 1), dt.date(2025, 1, 31))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "Date,Open,High,Low,Close,Volume\n2025-06-13,1,2,0.5,abc,10\n",
            "X.csv: line 2: field 'Close' has value 'abc' \\(not a number\\)",
        ),
        (
            "Date,Open,High,Low,Close,Volume\n2025-06-12,1,2,0.5,1,10\n13/06/2025,1,2,0.5,1,10\n",
            "line 3: field 'Date' has value '13/06/2025' \\(expected YYYY-MM-DD\\)",
        ),
        (
            "Date,Open,High,Low,Close,Volume\n2025-06-13,1,2,0.5,1,\n",
            "line 2: field 'Volume' has value ''",
        ),
        (
            "Date,Open,High,Low,Close,Volume\n2025-06-13,nan,2,0.5,1,3\n",
            "field 'Open' has value 'nan' \\(not a finite number\\)",
        ),
        (
            "Date,Open,High,Low,Close,Volume\n2025-06-13,1,2,0.5,1,3\n2025-06-13,1,2,0.5,1,3\n",
            "line 3: field 'Date' has value '2025-06-13' \\(duplicate of line 2\\)",
        ),
        (
            "Date,Open,High,Low,Volume\n2025-06-13,1,2,0.5,3\n",
            "missing column\\(s\\) \\['close'\\]",
        ),
        ("", "X.csv is empty"),
        ("Date,Open,High,Low,Close,Volume\n", "X.csv has a header but no rows"),
    ],
)
def test_bad_files_name_file_line_field_and_value(tmp_path, text, match):
    write(tmp_path, "X.csv", text)
    with pytest.raises(VendorDataError, match=match):
        CsvVendor(tmp_path).daily_bars(["X"], dt.date(2025, 6, 1), dt.date(2025, 6, 30))


@pytest.mark.parametrize(
    "symbol",
    [
        "../x",
        "../../etc/passwd",
        "/etc/passwd",
        "A/B",
        "..",
        ".",
        "",
        "A..B",
        "SPY\x00",
        "C:\\x",
        "~root",
        "A" * 11,
        "BRK.B.C",
    ],
)
def test_path_like_symbols_are_rejected(folder, symbol):
    with pytest.raises(UnknownTickerError):
        CsvVendor(folder).path_for(symbol)


def test_symlink_out_of_the_folder_is_refused(folder, tmp_path):
    outside = write(tmp_path / "outside", "SECRET.csv", DAILY)
    os.symlink(outside, folder / "EVIL.csv")
    with pytest.raises(UnknownTickerError, match="resolves outside"):
        CsvVendor(folder).daily_bars(["EVIL"], dt.date(2025, 6, 11), dt.date(2025, 6, 13))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    symbol=st.one_of(
        st.text(max_size=24),
        st.text(alphabet="./\\~:ABCDE012 \x00", max_size=12),
        st.from_regex(r"[A-Z]{1,5}(\.[A-Z]{1,2})?", fullmatch=True),
    )
)
def test_property_no_symbol_resolves_outside_the_folder(folder, symbol):
    v = CsvVendor(folder)
    root = folder.resolve()
    for suffix in ("", "_1m"):
        try:
            path = v.path_for(symbol, suffix)
        except UnknownTickerError:
            continue
        assert path.parent == root
        assert path.name == f"{symbol.strip().upper()}{suffix}.csv"


def test_universe_ranks_files_by_mean_volume(folder):
    write(folder, "not a ticker.csv", DAILY)
    uni = CsvVendor(folder).top_volume_tickers(dt.date(2025, 6, 16), size=5, lookback=3)
    assert list(uni.columns) == UNIVERSE.column_names
    assert uni["ticker"].tolist() == ["IBM", "BRK.B"]
    assert uni.loc[0, "avg_volume"] == pytest.approx((2831220 + 3110245 + 3326931) / 3)
    assert uni.loc[1, "avg_volume"] == pytest.approx((2831220 + 3110245 + 100) / 3)
    assert uni.loc[0, "last_close"] == 272.82
