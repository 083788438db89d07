import datetime as dt

import pytest

from primeflow_lib import calendar as cal


def test_holidays_and_weekends_are_not_sessions():
    assert cal.is_session("2024-07-03") and not cal.is_session("2024-07-04")
    assert not cal.is_session("2024-11-30")  # Saturday
    assert cal.sessions("2024-12-23", "2024-12-27") == [
        dt.date(2024, 12, 23), dt.date(2024, 12, 24), dt.date(2024, 12, 26), dt.date(2024, 12, 27)]


def test_early_close_day():
    o, c = cal.session_open_close("2024-11-29")
    assert (o.time(), c.time()) == (dt.time(9, 30), dt.time(13, 0))
    assert cal.is_early_close("2024-11-29") and not cal.is_early_close("2024-11-27")


def test_require_session_names_date_and_neighbours():
    with pytest.raises(cal.NotASessionError) as e:
        cal.require_session("2024-12-25")
    msg = str(e.value)
    assert "2024-12-25" in msg and "holiday" in msg and "2024-12-24" in msg and "2024-12-26" in msg
    with pytest.raises(cal.NotASessionError, match="weekend"):
        cal.require_session(dt.date(2024, 11, 30))
    with pytest.raises(cal.NotASessionError, match="YYYY-MM-DD"):
        cal.require_session("yesterday")


def test_history_reaches_back_to_2010():
    assert cal.calendar_bounds()[0] == dt.date(2010, 1, 4)
    assert len(cal.sessions("2010-01-01", "2010-12-31")) == 252


def test_latest_completed_session_respects_close():
    before_close = dt.datetime(2024, 11, 27, 15, 0)
    after_close = dt.datetime(2024, 11, 27, 16, 5)
    assert cal.latest_completed_session(before_close) == dt.date(2024, 11, 26)
    assert cal.latest_completed_session(after_close) == dt.date(2024, 11, 27)
    assert cal.latest_completed_session(dt.datetime(2024, 11, 28, 12)) == dt.date(2024, 11, 27)
