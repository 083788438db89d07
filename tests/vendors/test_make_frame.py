"""make_frame: vendor rows (mappings) or a frame -> exactly a table's columns and dtypes."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.vendors.http import make_frame

ROW = {"trade_date": dt.date(2025, 6, 12), "print_id": "p1", "option_symbol": "O:SPY250620C00600000",
       "underlying": "SPY", "sip_ts": dt.datetime(2025, 6, 12, 10, 0), "sip_timestamp": 1749736800000000000,
       "exchange": 4, "price": 1.25, "size": 10, "conditions": "", "correction": None, "bid": 1.2, "ask": 1.3,
       "seq": 0, "vendor": "massive", "vendor_sequence": None, "quote_source": None}


def test_rows_and_a_frame_give_the_same_typed_frame():
    rows = [ROW, {**ROW, "print_id": "p2", "bid": None, "extra": "dropped"}, {k: v for k, v in ROW.items() if k != "ask"}]
    a = make_frame(OPTION_PRINTS, rows)
    b = make_frame(OPTION_PRINTS, pd.DataFrame(rows))
    pd.testing.assert_frame_equal(a, b)
    assert list(a.columns) == OPTION_PRINTS.column_names
    assert a["size"].dtype == np.int64 and a["vendor_sequence"].dtype == "Int64"
    assert np.isnan(a["bid"].iloc[1]) and np.isnan(a["ask"].iloc[2])
    assert a["trade_date"].iloc[0] == dt.date(2025, 6, 12)
    assert make_frame(OPTION_PRINTS, iter(rows)).equals(a)  # any iterable of mappings


def test_missing_dates_of_every_kind_are_null_and_a_missing_required_column_is_named():
    rows = [{**ROW, "trade_date": v} for v in (None, float("nan"), pd.NaT, np.datetime64("NaT"))]
    assert make_frame(OPTION_PRINTS, rows)["trade_date"].tolist() == [None] * 4
    with pytest.raises(KeyError, match="'price' missing"):
        make_frame(OPTION_PRINTS, [{k: v for k, v in ROW.items() if k != "price"}])
