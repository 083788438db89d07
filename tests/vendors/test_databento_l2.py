"""L2 features from the Databento historical API (one get_range request per session) against a
local HTTP server answering with the bytes of the real XNAS.ITCH sample, and its errors."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from werkzeug import Response

from primeflow_lib.market.l2_sources import L2Settings, build_l2_day
from primeflow_lib.vendors.base import VendorError
from primeflow_lib.vendors.databento.vendor import DatabentoVendor
from primeflow_lib.vendors.http import HttpSettings

KEY = "db-TESTKEY0123456789abcdefXYZ"
DAY = dt.date(2020, 12, 28)


@pytest.fixture
def sample(real_data):
    f = real_data / "databento" / "XNAS.ITCH" / "test_data.mbo.dbn.zst"
    if not f.is_file():
        pytest.skip(f"real Databento file not found: {f} (set PRIMEFLOW_REAL_DATA)")
    return f.read_bytes()


def settings(schema="mbo"):
    return L2Settings.from_config({"l2": {"source": "databento", "files": {}, "tickers": ["nvda"],
                                          "dataset": "XNAS.ITCH", "schema": schema, "depth_levels": 5,
                                          "max_age_minutes": 5}})


def serve(httpserver, answer):
    calls = []

    def handle(request):
        calls.append(request.form.to_dict())
        if isinstance(answer, bytes):
            return Response(answer, status=200, content_type="application/octet-stream")
        return Response(json.dumps(answer[1]), status=answer[0], content_type="application/json")

    httpserver.expect_request("/v0/timeseries.get_range", method="POST").respond_with_handler(handle)
    v = DatabentoVendor(KEY, base_url=httpserver.url_for("").rstrip("/"),
                        settings=HttpSettings(max_retries=1, backoff_base=0.01), sleep=lambda s: None)
    return v, calls


def test_l2_day_from_the_historical_api(httpserver, sample):
    v, calls = serve(httpserver, sample)
    res = build_l2_day(settings(), DAY, {}, vendor=v)
    assert calls[0]["schema"] == "mbo" and calls[0]["dataset"] == "XNAS.ITCH" and calls[0]["symbols"] == "NVDA"
    assert calls[0]["stype_in"] == "raw_symbol"
    rows = res.rows
    assert len(rows) == 1 and rows["ticker"].iloc[0] == "NVDA" and set(rows["vendor"]) == {"databento"}
    assert (rows["bid"].iloc[0], rows["ask"].iloc[0]) == (512.01, 539.0) and not res.issues
    assert "timeseries.get_range XNAS.ITCH mbo 2020-12-28" in rows["source"].iloc[0]


def test_api_errors_and_bad_schemas_are_clear(httpserver):
    v, _ = serve(httpserver, (403, {"detail": "Your plan does not include XNAS.ITCH mbo"}))
    with pytest.raises(VendorError):
        build_l2_day(settings(), DAY, {}, vendor=v)
    with pytest.raises(VendorError, match="book schema 'trades' must be mbo or mbp-10"):
        v.book_records(["NVDA"], DAY, schema="trades")


def test_a_truncated_response_is_an_error_naming_the_request(httpserver, sample):
    v, _ = serve(httpserver, sample[: len(sample) // 2])
    with pytest.raises(VendorError, match="mbo book of NVDA 2020-12-28 .*truncated zstd stream"):
        build_l2_day(settings(), DAY, {}, vendor=v)
