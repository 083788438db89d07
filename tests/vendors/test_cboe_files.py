"""Cboe DataShop Option Trades import: the real sample day and hostile files."""

from __future__ import annotations

import pytest

from primeflow_lib.config import default_config
from primeflow_lib.flow.engine import score_batch
from primeflow_lib.real_data_check import CheckReport, flow_rows
from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.vendors.cboe.trades import CboeFileError, read_option_trades

pytestmark = pytest.mark.xdist_group("real_data")
SAMPLE = "cboe_trades/UnderlyingOptionsTrades_2016-06-01.csv"
HEADER = ("underlying_symbol,quote_datetime,sequence_number,root,expiration,strike,option_type,exchange_id,"
          "trade_size,trade_price,trade_condition_id,canceled_trade_condition_id,best_bid,best_ask,"
          "underlying_bid,underlying_ask,number_of_exchanges,{exchange,bid_size,bid,ask_size,ask}"
          "[number_of_exchanges]")


def row(seq, t="2016-06-01 10:00:00.125", strike="15.000", size=10, price="1.0000", cond=0, bid="0.9500",
        ask="1.0500", nx=1):
    base = f"^VIX,{t},{seq},VIX,2016-06-08,{strike},C,5,{size},{price},{cond},0,{bid},{ask},15.0,15.0,{nx}"
    return base + ",5,10,0.95,10,1.05" * nx


def write(tmp_path, lines, name="trades.csv"):
    f = tmp_path / name
    f.write_text("\n".join(lines) + "\n")
    return f


def test_the_sample_day_keeps_every_genuine_fill(real_data):
    prints, rep = read_option_trades(real_data / SAMPLE)
    assert list(prints.columns) == OPTION_PRINTS.column_names
    assert rep.rows_in == rep.rows_out == len(prints) == 2295
    assert prints["vendor_sequence"].is_unique and (prints["vendor"] == "cboe").all()
    # 45 fills repeat an earlier one on contract, millisecond, exchange, price, size and condition
    key = ["option_symbol", "sip_timestamp", "exchange", "price", "size", "conditions"]
    same = prints.duplicated(key)
    assert int(same.sum()) == 45
    same_contracts = int(prints.loc[same, "size"].sum())
    res = score_batch(prints, None, None, None, default_config(), source="cboe")
    st = res.stats["prints"]
    assert st["duplicates"] == 0 and len(res.quarantine) == 0
    kept = {x for ids in res.events["print_ids"] for x in ids.split(",")}
    assert set(prints.loc[same, "print_id"]) <= kept
    # volume: every contract counted (the one cancelled print and its cancel record aside)
    assert int(res.events["size"].sum()) == int(prints["size"].sum()) - 2 * 180
    assert same_contracts == 14_000
    # VIX options trade to 16:15: nothing is out of session; every code is known
    assert st["out_of_session_prints"] == 0 and st["unknown_condition_prints"] == 0
    assert rep.flags == {"zero_quote": 1, "crossed_quote": 0, "sequence_backwards": 365, "canceled_marked": 2}


def test_spread_legs_land_in_structures_and_the_accounting_holds(real_data):
    prints, _ = read_option_trades(real_data / SAMPLE)
    rep = CheckReport()
    flow_rows(rep, "cboe", prints, default_config())
    assert not rep.problems
    res = score_batch(prints, None, None, None, default_config())
    st = res.stats["prints"]
    assert st["multileg_prints"] == 718
    assert st["multileg_prints_in_structures"] / st["multileg_prints"] >= 0.95
    legs = res.events[res.events["structure_id"].notna()]
    assert legs["non_directional"].all() and set(legs["sentiment"]) == {"neutral"}
    assert (legs.groupby("structure_id")["option_symbol"].nunique() >= 2).all()


def test_missing_and_extra_columns_name_file_and_line(tmp_path):
    f = write(tmp_path, [HEADER.replace("trade_size,", ""), row(1)])
    with pytest.raises(CboeFileError, match=r"trades.csv: line 1: header lacks the column\(s\) \['trade_size'\]"):
        read_option_trades(f)
    f = write(tmp_path, [HEADER.replace("best_ask,", "best_ask,mystery,"), row(1)])
    with pytest.raises(CboeFileError, match=r"line 1: header has unknown column\(s\) \['mystery'\]"):
        read_option_trades(f)
    f = write(tmp_path, [HEADER, row(1), row(2) + ",9"])
    with pytest.raises(CboeFileError, match=r"line 3: 23 fields, but number_of_exchanges = 1 needs 22"):
        read_option_trades(f)
    f = write(tmp_path, [HEADER, row(1), row(2, price="1.O0")])
    with pytest.raises(CboeFileError, match=r"line 3: field trade_price: '1.O0' is not a number"):
        read_option_trades(f)


def test_flags_are_counted_with_file_line_and_field(tmp_path):
    f = write(tmp_path, [HEADER, row(10), row(5, t="2016-06-01 10:00:01.000"),
                         row(11, t="2016-06-01 10:00:02.000", bid="0.0000", ask="0.0000"),
                         row(12, t="2016-06-01 10:00:03.000", bid="1.2000", ask="1.1000")])
    prints, rep = read_option_trades(f)
    assert len(prints) == 4
    assert rep.flags == {"zero_quote": 1, "crossed_quote": 1, "sequence_backwards": 1, "canceled_marked": 0}
    back = rep.flagged[rep.flagged["flag"] == "sequence_backwards"].iloc[0]
    assert (back.file, back.line, back.field) == ("trades.csv", 3, "sequence_number")
    res = score_batch(prints, None, None, None, default_config())
    assert res.stats["prints"]["crossed_quote_prints"] == 2  # zero and crossed quotes: tick rule


def test_an_unknown_condition_code_is_counted_never_regular(tmp_path):
    f = write(tmp_path, [HEADER, row(1, cond=999), row(2, t="2016-06-01 10:00:01.000")])
    prints, _ = read_option_trades(f)
    res = score_batch(prints, None, None, None, default_config())
    assert res.stats["prints"]["unknown_condition_codes"] == {"cboe_datashop:999": 1}
    assert int(res.events["has_unknown_condition"].sum()) == 1


def test_a_refed_file_is_the_same_records(tmp_path):
    import pandas as pd

    f = write(tmp_path, [HEADER, row(1), row(2), row(3, size=7)])
    prints, _ = read_option_trades(f)
    twice = pd.concat([prints, prints], ignore_index=True)
    res = score_batch(twice, None, None, None, default_config())
    assert res.stats["prints"]["duplicates"] == 3 and int(res.events["size"].sum()) == 27
