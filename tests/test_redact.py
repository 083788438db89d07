"""redact(): one function that removes keys, tokens and webhook secrets from any text (used by
the vendors and the alerts alike)."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from primeflow_lib.config import Secret
from primeflow_lib.redact import (
    LOGGERS,
    RedactingFilter,
    install_log_redaction,
    redact,
    register_secret,
    reveal,
    secret_pieces,
)


@pytest.mark.parametrize(
    ("text", "secret_part", "kept"),
    [
        (
            "POST https://api.telegram.org/bot123456:AAH-x_yZ9/sendMessage failed",
            "AAH-x_yZ9",
            "/bot***/sendMessage",
        ),
        (
            "https://hooks.slack.com/services/T0001/B0002/XXXXyyyyZZZZ returned 404",
            "XXXXyyyyZZZZ",
            "hooks.slack.com/services/***",
        ),
        (
            "https://discord.com/api/webhooks/1234567890/abcDEF-ghi_jkl?wait=true",
            "abcDEF-ghi_jkl",
            "discord.com/api/webhooks/***?wait=true",
        ),
        (
            "https://discordapp.com/api/v10/webhooks/99/tok-en",
            "tok-en",
            "webhooks/***",
        ),
        (
            "GET /query?function=TIME_SERIES_DAILY&symbol=IBM&apikey=S3CRET123",
            "S3CRET123",
            "symbol=IBM&apikey=***",
        ),
        ("headers: {'Authorization': 'Bearer abc.def-123'}", "abc.def-123", "Bearer ***"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "Authorization: Basic ***"),
        ("X-API-Key: kkkkkkkk", "kkkkkkkk", "X-API-Key: ***"),
        (
            "We have detected your API key as DEMOKEY123 and our standard API rate limit is 25",
            "DEMOKEY123",
            "API key as *** and",
        ),
    ],
)
def test_patterns_remove_the_secret_and_keep_the_context(text, secret_part, kept):
    out = redact(text)
    assert secret_part not in out
    assert kept in out


def test_explicit_and_secret_objects_and_url_encoded_forms_are_removed():
    key = "ab/cd+ef=gh"  # characters that get percent-encoded in URLs
    text = f"raw {key} quoted ab%2Fcd%2Bef%3Dgh plus ab%2Fcd%2Bef%3Dgh"
    out = redact(text, [Secret(key)])
    assert key not in out and "ab%2Fcd%2Bef%3Dgh" not in out
    assert out.count("***") == 3


def test_registered_secret_is_removed_everywhere():
    register_secret(Secret("registered-secret-0042"))
    assert "registered-secret-0042" not in redact("boom: registered-secret-0042!")


def test_short_and_empty_secrets_do_not_mangle_text():
    assert redact("a normal message", ["", "a", None]) == "a normal message"


def test_non_string_input_is_converted():
    assert redact(ValueError("apikey=zzz")) == "apikey=***"


def test_words_that_merely_end_in_key_are_left_alone():
    assert redact("alert_key=abc monkey=banana") == "alert_key=abc monkey=banana"


@given(
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=6, max_size=40)
)
def test_property_a_registered_value_never_survives(secret):
    text = f"error at https://x/y?apikey={secret} and body {secret!s} end"
    out = redact(text, [secret])
    assert secret not in out


def test_logging_filter_redacts_args_and_exception_text():
    logger = logging.getLogger("test.redact.filter")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    logger.addHandler(handler)
    logger.addFilter(RedactingFilter(["filter-secret-77"]))
    logger.propagate = False
    try:
        try:
            raise RuntimeError("failed with token filter-secret-77")
        except RuntimeError:
            logger.exception("GET %s", "https://h/q?apikey=filter-secret-77")
    finally:
        logger.removeHandler(handler)
    (rec,) = records
    text = logging.Formatter().format(rec)
    assert "filter-secret-77" not in text
    assert "apikey=***" in text and "RuntimeError" in text


# -- secret URLs: masked by their pieces (urllib3 logs only the request path) --------------------

HOOK = "https://example.org/hooks/HOOKtopSECRET_0123456789?sig_v=QUERYsecret_98765"


def test_secret_url_pieces():
    pieces = secret_pieces(HOOK)
    assert HOOK in pieces
    assert "example.org/hooks/HOOKtopSECRET_0123456789?sig_v=QUERYsecret_98765" in pieces
    assert "/hooks/HOOKtopSECRET_0123456789?sig_v=QUERYsecret_98765" in pieces
    assert {"HOOKtopSECRET_0123456789", "QUERYsecret_98765"} <= pieces
    # short segments stay readable
    assert "hooks" not in pieces and "example.org" not in pieces


def test_secret_pieces_of_plain_short_and_secret_values():
    assert secret_pieces("  plain-value  ") == {"plain-value"}
    assert secret_pieces("abc") == set() and secret_pieces("") == set()
    assert secret_pieces(None) == set()
    assert secret_pieces(Secret("https://u:p4ssw0rd@h.example/x")) >= {"p4ssw0rd"}


def test_path_of_a_passed_secret_url_is_masked_as_urllib3_prints_it():
    line = '"POST /hooks/HOOKtopSECRET_0123456789?sig_v=QUERYsecret_98765 HTTP/1.1" 500 21'
    out = redact(line, [HOOK])
    assert "HOOKtopSECRET" not in out and "QUERYsecret" not in out
    assert out.startswith('"POST ***') and "HTTP/1.1" in out
    # the same with the secret held as a config.Secret
    assert "HOOKtopSECRET" not in redact(line, [Secret(HOOK)])


def test_registered_secret_url_masks_its_segments():
    url = "http://127.0.0.1:9/hooks/REGISTEREDhookSECRET_42"
    register_secret(Secret(url))
    assert redact(f"connection refused: {url}") == "connection refused: ***"
    assert "REGISTEREDhookSECRET_42" not in redact("POST /hooks/REGISTEREDhookSECRET_42 HTTP/1.1")


def test_reveal():
    assert reveal(Secret("abcd")) == "abcd" and reveal("x") == "x" and reveal(None) == ""


# -- the log filter -------------------------------------------------------------------------


def test_logging_filter_redacts_stack_info():
    rec = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None, sinfo="apikey=zzz")
    assert RedactingFilter().filter(rec) and rec.stack_info == "apikey=***"


def test_broken_format_string_is_still_logged_redacted():
    rec = logging.LogRecord("x", logging.INFO, __file__, 1, "%d token=%s", ("a",), None)
    assert RedactingFilter().filter(rec)
    assert "token=" in rec.msg and rec.args is None


def test_install_log_redaction_is_idempotent_and_covers_vendor_and_alert_loggers():
    assert {"urllib3.connectionpool", "yfinance", "primeflow_lib.alerts.relay"} <= set(LOGGERS)
    install_log_redaction(["test.redact.extra"])
    install_log_redaction(["test.redact.extra"])
    for name in (*LOGGERS, "test.redact.extra"):
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactingFilter) for f in filters) == 1, name


def test_import_is_light():
    """The alert relay imports this and restarts after each crash: no pandas/numpy."""
    code = (
        "import sys, primeflow_lib.redact, primeflow_lib.backoff\n"
        "bad = sorted(m for m in ('pandas', 'numpy', 'dagster') if m in sys.modules)\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
