"""Databento: the real DBN sample files, and the historical API against a local HTTP server that
answers ``POST /v0/timeseries.get_range`` with DBN bodies built here (the documented encoding:
DBN metadata + records, zstd-compressed) and with Databento's JSON errors."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace as NS

import databento_dbn as d
import pytest
import zstandard
from werkzeug import Response

from primeflow_lib.config import default_config
from primeflow_lib.flow.engine import score_batch
from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.vendors import get_vendor
from primeflow_lib.vendors.base import VendorAuthError, VendorPlanError, VendorRateLimitError
from primeflow_lib.vendors.databento import dbn
from primeflow_lib.vendors.databento.files import DbnFiles
from primeflow_lib.vendors.databento.vendor import DatabentoVendor
from primeflow_lib.vendors.http import HttpSettings

DAY = dt.date(2025, 2, 20)
T0 = 1740061800817657088  # 2025-02-20 09:30:00.817657088 New York
KEY = "db-TESTKEY0123456789abcdefXYZ"
START, END = 1740009600000000000, 1740096000000000000


# ------------------------------------------------------------------------ DBN bodies built here
def meta(schema, dataset="OPRA.PILLAR", stype_in=d.SType.PARENT, symbols=("AAPL.OPT",)):
    return d.Metadata(dataset=dataset, start=START, stype_in=stype_in, stype_out=d.SType.INSTRUMENT_ID,
                      schema=schema, symbols=list(symbols), end=END)


def body(m, recs) -> bytes:
    return zstandard.ZstdCompressor().compress(m.encode() + b"".join(bytes(r) for r in recs))


def definition(iid=1, sym="AAPL  250221C00250000", strike=250, cls=d.InstrumentClass.CALL):
    return d.InstrumentDefMsg(
        publisher_id=30, instrument_id=iid, ts_event=START + 1, ts_recv=START + 2,
        min_price_increment=10_000_000, display_factor=1_000_000_000, raw_symbol=sym, asset="AAPL",
        security_type="OOF", instrument_class=cls, security_update_action=d.SecurityUpdateAction.ADD,
        expiration=END, strike_price=strike * 1_000_000_000, underlying="AAPL")


def tcbbo(iid, t, px, size, bid, ask):
    return d.CMBP1Msg(rtype=d.RType.TCBBO, publisher_id=30, instrument_id=iid, ts_event=t,
                      price=int(px * 1e9), size=size, action=d.Action.TRADE, side=d.Side.NONE,
                      ts_recv=t + 100, flags=130,
                      levels=d.ConsolidatedBidAskPair(bid_px=int(bid * 1e9), ask_px=int(ask * 1e9),
                                                      bid_sz=5, ask_sz=5, bid_pb=30, ask_pb=31))


def trade(iid, t, px, size, seq, pub=23):
    return d.TradeMsg(publisher_id=pub, instrument_id=iid, ts_event=t, price=int(px * 1e9), size=size,
                      action=d.Action.TRADE, side=d.Side.NONE, depth=0, ts_recv=t + 100, flags=194,
                      sequence=seq)


def stat(iid, oi):
    return d.StatMsg(publisher_id=30, instrument_id=iid, ts_event=START + 3, ts_recv=START + 4,
                     ts_ref=d.UNDEF_TIMESTAMP, price=d.UNDEF_PRICE, quantity=oi,
                     stat_type=d.StatType.OPEN_INTEREST)


DEFS = body(meta(d.Schema.DEFINITION), [definition(1), definition(2, "AAPL  250221C00255000", 255)])


# ------------------------------------------------------------------------------ a fake server
@pytest.fixture
def api(httpserver):
    """Routes by the form's schema: ``api.bodies[schema]`` = bytes, or (status, json, headers)."""

    class Api:
        bodies: dict = {}
        calls: list = []

    def handle(request):
        form = request.form.to_dict()
        Api.calls.append({**form, "auth": request.authorization})
        out = Api.bodies.get(form["schema"])
        if isinstance(out, list):  # a sequence of answers, one per call
            out = out.pop(0) if len(out) > 1 else out[0]
        if isinstance(out, bytes):
            return Response(out, status=200, content_type="application/octet-stream")
        status, js, headers = out
        return Response(js, status=status, content_type="application/json", headers=headers)

    httpserver.expect_request("/v0/timeseries.get_range", method="POST").respond_with_handler(handle)
    Api.url = httpserver.url_for("").rstrip("/")
    return Api


def vendor(api, **kw):
    return DatabentoVendor(KEY, base_url=api.url, settings=HttpSettings(max_retries=2, backoff_base=0.01),
                           sleep=lambda s: None, **kw)


def test_prints_from_tcbbo_with_the_consolidated_quote(api):
    api.bodies = {"definition": DEFS, "tcbbo": body(meta(d.Schema.TCBBO), [
        tcbbo(1, T0, 0.24, 3, 0.23, 0.25), tcbbo(2, T0 + 10**9, 0.11, 1, 0.10, 0.12)])}
    p = vendor(api).option_prints(["aapl"], DAY)
    assert list(p.columns) == OPTION_PRINTS.column_names
    assert list(p.option_symbol) == ["AAPL250221C00250000", "AAPL250221C00255000"]
    assert p.price.tolist() == [0.24, 0.11] and p.bid.tolist() == [0.23, 0.10]  # 1e-9 fixed point
    assert p.sip_timestamp.iloc[0] == T0 and str(p.sip_ts.iloc[0]) == "2025-02-20 09:30:00.817657"
    assert set(p.quote_source) == {"nbbo"} and set(p.exchange) == {30}
    assert set(p.conditions) == {"128,2"}
    c = api.calls[0]
    assert c["dataset"] == "OPRA.PILLAR" and c["symbols"] == "AAPL.OPT" and c["stype_in"] == "parent"
    assert c["auth"].username == KEY and c["compression"] == "zstd"


def test_without_tcbbo_tbbo_then_trades_and_it_says_so(api, caplog):
    tbbo = d.MBP1Msg(publisher_id=23, instrument_id=1, ts_event=T0, price=240_000_000, size=2,
                     action=d.Action.TRADE, side=d.Side.NONE, depth=0, ts_recv=T0 + 5, flags=194,
                     sequence=713382, levels=d.BidAskPair(bid_px=230_000_000, ask_px=240_000_000,
                                                          bid_sz=1, ask_sz=1))
    denied = (403, '{"detail": "Your license does not include tcbbo for OPRA.PILLAR"}', {})
    api.bodies = {"definition": DEFS, "tcbbo": denied, "tbbo": body(meta(d.Schema.TBBO), [tbbo])}
    v = vendor(api)
    with caplog.at_level(logging.WARNING):
        p = v.option_prints(["AAPL"], DAY)
    assert set(p.quote_source) == {"venue_bbo"} and p.vendor_sequence.tolist() == [713382]
    assert v.print_schema_used[str(DAY)] == "tbbo"
    assert "side confidence lowered" in v.notices[0] and "tcbbo is not available" in caplog.text
    res = score_batch(p, None, None, None, default_config())
    assert res.stats["prints"]["venue_quote_prints"] == 1
    assert list(res.events.side_confidence) == ["medium"]  # at the ask: high, lowered one level
    api.bodies["tbbo"] = denied
    api.bodies["trades"] = body(meta(d.Schema.TRADES), [trade(1, T0, 0.24, 2, 7)])
    p = vendor(api).option_prints(["AAPL"], DAY)
    assert p.bid.isna().all() and p.quote_source.isna().all()


def test_chain_from_definition_and_statistics(api):
    api.bodies = {"definition": DEFS, "statistics": body(meta(d.Schema.STATISTICS), [stat(1, 57924), stat(2, 10)])}
    c = vendor(api).option_chain(["AAPL"], DAY)
    assert dict(zip(c.option_symbol, c.open_interest, strict=True)) == {
        "AAPL250221C00250000": 57924, "AAPL250221C00255000": 10}
    assert c.iv.isna().all() and set(c.vendor) == {"databento"}


def test_errors_are_typed_retried_and_never_show_the_key(api, caplog):
    v = vendor(api)
    api.bodies = {"definition": (401, '{"detail": "Authentication failed."}', {})}
    with pytest.raises(VendorAuthError, match="DATABENTO_API_KEY") as e:
        v.option_prints(["AAPL"], DAY)
    assert KEY not in str(e.value)
    api.bodies = {"definition": (403, '{"detail": "no license for OPRA.PILLAR"}', {})}
    with pytest.raises(VendorPlanError, match="no license"):
        v.option_chain(["AAPL"], DAY)
    api.calls.clear()
    api.bodies = {"definition": [(429, '{"detail": "slow down"}', {"Retry-After": "0"}), DEFS],
                  "statistics": body(meta(d.Schema.STATISTICS), [stat(1, 5)])}
    assert len(v.option_chain(["AAPL"], DAY)) == 1 and len(api.calls) == 3
    api.bodies = {"definition": [(429, '{"detail": "slow down"}', {})]}
    with caplog.at_level(logging.DEBUG), pytest.raises(VendorRateLimitError, match="after 3 attempts"):
        v.option_chain(["AAPL"], DAY)
    assert KEY not in caplog.text


def test_a_truncated_body_and_another_schema_are_clear_errors(api):
    good = body(meta(d.Schema.STATISTICS), [stat(1, 5)])
    api.bodies = {"definition": DEFS[: len(DEFS) // 2]}
    with pytest.raises(dbn.DbnError, match="truncated zstd stream|not a DBN stream"):
        vendor(api).option_chain(["AAPL"], DAY)
    api.bodies = {"definition": good}
    with pytest.raises(dbn.DbnError, match="field schema: the stream holds 'statistics' records, expected 'definition'"):
        vendor(api).option_chain(["AAPL"], DAY)


def test_a_missing_key_names_the_variable():
    v = get_vendor("databento", {**default_config(), "api_keys": {}})
    with pytest.raises(VendorAuthError, match="set DATABENTO_API_KEY"):
        v.check_ready("prints")


def test_equity_bars(api):
    # the metadata's symbol mappings are read through attributes (raw_symbol, intervals)
    mapping = NS(raw_symbol="QQQ", intervals=[NS(start_date=DAY, end_date=DAY + dt.timedelta(days=1), symbol="13340")])
    m = d.Metadata(dataset="EQUS.MINI", start=START, stype_in=d.SType.RAW_SYMBOL, stype_out=d.SType.INSTRUMENT_ID,
                   schema=d.Schema.OHLCV_1D, symbols=["QQQ"], end=END, mappings=[mapping])
    bar = d.OHLCVMsg(rtype=d.RType.OHLCV_1D, publisher_id=95, instrument_id=13340, ts_event=START,
                     open=int(500e9), high=int(505e9), low=int(499e9), close=int(503e9), volume=1000)
    api.bodies = {"ohlcv-1d": body(m, [bar])}
    b = vendor(api).daily_bars(["QQQ"], DAY, DAY)
    assert b[["ticker", "open", "close", "volume"]].values.tolist() == [["QQQ", 500.0, 503.0, 1000.0]]


# ----------------------------------------------------------------------- the real sample files
def test_the_real_opra_files(real_data):
    files = DbnFiles([real_data / "databento" / "OPRA.PILLAR"])
    p, schema = files.prints()
    assert schema == "tbbo" and len(p) == 4  # no tcbbo file in the sample: the venue's quote
    assert p.option_symbol.unique().tolist() == ["AAPL250221C00250000"]
    assert p.vendor_sequence.tolist() == [713382, 882595, 887133, 921205]
    assert p.price.tolist() == [0.24, 0.20, 0.19, 0.19] and p["size"].tolist() == [1, 2, 1, 4]
    assert [dbn.venue_of(int(x)) for x in p.exchange] == ["EMLD", "XISX", "XISX", "MXOP"]
    assert files.chain().open_interest.tolist() == [57924]
    res = score_batch(p, None, None, None, default_config(), source="dbn")
    assert res.stats["prints"]["duplicates"] == 0 and int(res.events["size"].sum()) == 8


def test_real_files_of_another_schema_or_dataset_and_a_truncated_copy(real_data, tmp_path):
    f = real_data / "databento" / "OPRA.PILLAR" / "test_data.trades.dbn.zst"
    with pytest.raises(dbn.DbnError, match="field schema: the stream holds 'trades' records, expected 'statistics'"):
        dbn.read_file(f, schema="statistics")
    with pytest.raises(dbn.DbnError, match="field dataset: the stream is from 'XNAS.ITCH'"):
        dbn.read_file(real_data / "databento" / "XNAS.ITCH" / "test_data.trades.dbn.zst", dataset="OPRA.PILLAR")
    cut = tmp_path / "cut.trades.dbn.zst"
    cut.write_bytes(f.read_bytes()[:150])
    with pytest.raises(dbn.DbnError, match="cut.trades.dbn.zst: truncated zstd stream"):
        DbnFiles([cut])
