"""Secrets are masked before vendor text is shortened (issue 23, item 7): a server that echoes
the key anywhere in a long error body never gets any part of it into a message."""

from __future__ import annotations

import pytest
from vendor_testkit import make_cfg
from werkzeug import Response

from primeflow_lib.redact import shorten
from primeflow_lib.vendors.base import VendorDataError, VendorError
from primeflow_lib.vendors.http import VENDOR_TEXT_LIMIT, HttpClient, HttpSettings

KEY = "K3yAbCdE9z"  # ten characters, like the key the issue saw 9 of


def _leaks(text: str) -> list[str]:
    """Every 4-character piece of the key found in ``text``."""
    return [KEY[i:i + 4] for i in range(len(KEY) - 3) if KEY[i:i + 4] in text]


def _client(base_url: str) -> HttpClient:
    return HttpClient("massive", base_url, settings=HttpSettings.from_config(make_cfg(http_max_retries=0)),
                      secrets=[KEY], key_env="POLYGON_MASSIVE_KEY")


@pytest.mark.parametrize("at", [0, VENDOR_TEXT_LIMIT - 9, VENDOR_TEXT_LIMIT - 3, VENDOR_TEXT_LIMIT + 5])
def test_an_echoed_key_is_masked_wherever_the_cut_falls(fake_server, at):
    body = "e" * at + KEY + " was rejected; " + "z" * 400
    fake_server.add("/v1/x", Response(body, status=400, content_type="text/plain"))
    with pytest.raises(VendorError) as ei:
        _client(fake_server.base_url).get_json("/v1/x", what="t")
    msg = str(ei.value)
    assert _leaks(msg) == [], msg
    if at < VENDOR_TEXT_LIMIT - len(KEY):
        assert "***" in msg


def test_a_json_error_echoing_the_key_in_its_message(fake_server):
    body = {"status": "ERROR", "error": "x" * 280 + f" key {KEY} unknown " + "y" * 100}
    import json

    fake_server.add("/v1/x", Response(json.dumps(body), status=401, content_type="application/json"))
    with pytest.raises(VendorError) as ei:
        _client(fake_server.base_url).get_json("/v1/x", what="t")
    assert _leaks(str(ei.value)) == []


def test_a_non_json_200_body_starting_with_the_key(fake_server):
    fake_server.add("/v1/x", Response("<html>" + "a" * 70 + KEY + "</html>", status=200,
                                      content_type="application/json"))
    with pytest.raises(VendorDataError) as ei:
        _client(fake_server.base_url).get_json("/v1/x", what="t")
    assert _leaks(str(ei.value)) == []


def test_shorten_redacts_before_it_cuts():
    text = "a" * 95 + KEY
    assert _leaks(shorten(text, 100, [KEY])) == []
    assert shorten(text, 100, [KEY]) == "a" * 95 + "***"
    assert shorten("short", 100) == "short"


def test_alpha_vantage_csv_download_that_is_neither_csv_nor_json(fake_server):
    from primeflow_lib.vendors.alpha_vantage import AlphaVantageVendor

    # a broken JSON body whose first 80 characters end one character before the end of the echoed key
    fake_server.add("/query", Response('{"Information": "' + "i" * 54 + KEY + ' is invalid"', status=200,
                                       content_type="text/csv"))
    vendor = AlphaVantageVendor(KEY, base_url=fake_server.base_url,
                                settings=HttpSettings.from_config(make_cfg(http_max_retries=0)))
    with pytest.raises(VendorDataError) as ei:
        vendor.get_csv("EARNINGS_CALENDAR", "earnings calendar", horizon="3month")
    assert "neither CSV nor JSON" in str(ei.value) and _leaks(str(ei.value)) == []
