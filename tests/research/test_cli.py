"""``primeflow backtest`` on the user's CSV, on the warehouse read copy, and on bad input."""

from __future__ import annotations

import json

import duckdb
import pytest
import yaml
from click.testing import CliRunner
from research_fixtures import as_csv_frame, make_bars

from primeflow_lib.schema.market import OHLCV_DAILY
from primeflow_pipelines.commands.backtest import backtest


@pytest.fixture(scope="module")
def csv_frame():
    return as_csv_frame(make_bars(300, seed=2))


def invoke(*args):
    # these tests read hand-made read copies: a recorded run must not republish over them
    return CliRunner().invoke(backtest, ["--no-publish", *[str(a) for a in args]])


def test_good_csv_prints_metrics_and_writes_json(tmp_path, csv_frame):
    path = tmp_path / "prices.csv"
    csv_frame.to_csv(path, index=False)
    out = tmp_path / "out.json"
    r = invoke("--csv", path, "--strategy", "dual_sma", "--fast", 10, "--slow", 20,
               "--fill", "next_open", "--size-pct", 100, "--fractional", "--sl", 0.05,
               "--tp", 0.10, "--commission", 0.001, "--json", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "sharpe" in r.output and "max_drawdown" in r.output and "prices 1d" in r.output
    payload = json.loads(out.read_text())
    assert payload["metrics"]["n_trades"] == len(payload["trades"]) > 0
    cfg = payload["config"]
    assert cfg["exits"]["stop_loss"] == 0.05 and cfg["execution"]["commission_pct"] == 0.001
    assert cfg["indicators"]["dual_sma"]["params"] == {"fast": 10, "slow": 20}
    first = payload["trades"][0]
    assert {"entry_ts", "exit_ts", "entry_price", "exit_price", "qty", "pnl", "ret", "fees",
            "exit_reason", "bars_held", "is_open"} <= set(first)  # fmt: skip


def test_config_file_with_export(tmp_path, csv_frame):
    path = tmp_path / "prices.csv"
    csv_frame.to_csv(path, index=False)
    cfg = {
        "dataset": {"csv": str(path), "symbol": "MINE", "start": "2015-03-02"},
        "indicators": {"rsi": {"params": {"period": 10}}, "bollinger": {}},
        "blend": {"mode": "voting"},
        "entry": {"threshold": 0.5},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    r = invoke("--config", tmp_path / "run.yaml", "--export", tmp_path / "exp")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "exp" / "results.json").read_text())
    assert res["symbol"] == "MINE" and res["first_bar"].startswith("2015-03-02")


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (lambda df: df.drop(columns=["Close"]), ["missing column 'Close'"]),
        (lambda df: df.assign(Low=df.Low.where(df.index != 6, -1.0)),
         ["row 7 (file line 8)", "'Low'", "-1", "must be > 0"]),
        (lambda df: df.assign(Open=df.Open.astype(object).where(df.index != 4, "abc")),
         ["row 5 (file line 6)", "'Open'", "'abc'", "not a finite number"]),
        (lambda df: df.assign(Volume=df.Volume.astype(object).where(df.index != 9, "")),
         ["row 10 (file line 11)", "'Volume'", "is missing"]),
        (lambda df: df.assign(Date=df.Date.where(df.index != 3, df.Date[2])),
         ["row 4 (file line 5)", "duplicates row 3"]),
        (lambda df: df.assign(Date=df.Date.where(df.index != 5, "2014-01-01")),
         ["row 6 (file line 7)", "'2014-01-01'", "ascending"]),
        (lambda df: df.assign(Date=df.Date.where(df.index != 2, "yesterday")),
         ["row 3 (file line 4)", "'yesterday'", "not a date"]),
        (lambda df: df.assign(High=df.High.where(df.index != 8, df.Low[8] * 0.5)),
         ["row 9 (file line 10)", "'High'", "below the bar's open, close or low"]),
    ],
)  # fmt: skip
def test_bad_csv_names_the_field_value_and_row(tmp_path, csv_frame, mutate, needles):
    path = tmp_path / "bad.csv"
    mutate(csv_frame.copy()).to_csv(path, index=False)
    r = invoke("--csv", path, "--strategy", "rsi")
    assert r.exit_code == 1
    for needle in needles:
        assert needle in r.output, r.output


def test_missing_and_empty_csv(tmp_path):
    assert "CSV file not found" in invoke("--csv", tmp_path / "no.csv", "--strategy", "rsi").output
    (tmp_path / "empty.csv").write_text("")
    assert "is empty" in invoke("--csv", tmp_path / "empty.csv", "--strategy", "rsi").output


def _warehouse(path, tickers=("AAA",)):
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA market")
    con.execute(OHLCV_DAILY.ddl())
    for i, t in enumerate(tickers):
        b = make_bars(260, seed=30 + i).reset_index()
        b["trade_date"] = b.pop("ts").dt.date
        b["ticker"], b["vwap"], b["vendor"] = t, None, "synthetic"
        con.register("b", b)
        con.execute(
            f"INSERT INTO market.ohlcv_daily SELECT {', '.join(OHLCV_DAILY.column_names)} FROM b"
        )
        con.unregister("b")
    con.close()


def test_warehouse_symbol_from_the_read_copy(tmp_path, monkeypatch):
    db = tmp_path / "read.duckdb"
    _warehouse(db, ("AAA", "BBB", "CCC"))
    monkeypatch.setenv("PRIMEFLOW_READ_DUCKDB", str(db))
    r = invoke(
        "--symbol", "AAA", "--start", "2015-02-02", "--end", "2015-10-30", "--strategy", "macd"
    )
    assert r.exit_code == 0, r.output
    assert "AAA 1d  2015-02-02" in r.output and "2015-10-30" in r.output
    r = invoke("--universe", "AAA,BBB,CCC", "--strategy", "momentum_rotation")
    assert r.exit_code == 0, r.output
    r = invoke("--symbol", "ZZZ", "--strategy", "macd")
    assert r.exit_code == 1 and "symbol 'ZZZ' not found in market.ohlcv_daily" in r.output
    r = invoke("--symbol", "AAA", "--start", "2030-01-01", "--strategy", "macd")
    assert (
        r.exit_code == 1 and "no bars for 'AAA'" in r.output and "available 2015-01-01" in r.output
    )


def test_warehouse_missing_file_or_table(tmp_path, monkeypatch):
    monkeypatch.setenv("PRIMEFLOW_READ_DUCKDB", str(tmp_path / "nope.duckdb"))
    r = invoke("--symbol", "AAA", "--strategy", "rsi")
    assert r.exit_code == 1 and "warehouse read copy not found" in r.output
    duckdb.connect(str(tmp_path / "blank.duckdb")).close()
    r = invoke("--symbol", "AAA", "--strategy", "rsi", "--db", tmp_path / "blank.duckdb")
    assert r.exit_code == 1 and "table market.ohlcv_daily not found" in r.output


def test_flag_errors_are_clear(tmp_path, csv_frame):
    path = tmp_path / "p.csv"
    csv_frame.to_csv(path, index=False)
    assert "give --config FILE or --strategy NAME" in invoke("--csv", path).output
    r = invoke("--csv", path, "--strategy", "rsi", "--fast", 3)
    assert r.exit_code == 1 and "no indicator in this run has a 'fast' parameter" in r.output
    r = invoke("--csv", path, "--strategy", "rsi", "--param", "rsi.period=x")
    assert "'x' is not a number" in r.output
    cfg = tmp_path / "o.json"
    cfg.write_text(
        json.dumps({"mode": "options", "indicators": {"rsi": {}}, "dataset": {"csv": str(path)},
                    "options": {"width": 0}})  # fmt: skip
    )
    r = invoke("--config", cfg)
    assert r.exit_code == 1 and "options.width: 0.0 must be > 0" in r.output


def test_intraday_timeframe_is_resampled_from_the_minute_table(tmp_path):
    import numpy as np
    import pandas as pd

    from primeflow_lib.research.data import load_warehouse_bars
    from primeflow_lib.schema.market import OHLCV_INTRADAY

    db = tmp_path / "read.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA market")
    con.execute(OHLCV_INTRADAY.ddl())
    days = pd.bdate_range("2024-03-04", periods=3)
    ts = np.concatenate(
        [d + pd.Timedelta("9h30min") + pd.to_timedelta(np.arange(390), "m") for d in days]
    )
    price = 100 + np.arange(len(ts)) * 0.01
    m1 = pd.DataFrame(
        {
            "trade_date": pd.DatetimeIndex(ts).date, "ts": ts, "ticker": "AAA", "open": price,
            "high": price + 0.02, "low": price - 0.02, "close": price + 0.01, "volume": 100.0,
            "vwap": price, "vendor": "synthetic",
        }
    )  # fmt: skip
    con.register("m1", m1)
    con.execute("INSERT INTO market.ohlcv_intraday SELECT * FROM m1")
    con.close()
    bars = load_warehouse_bars("AAA", "2024-03-05", "2024-03-06", "1h", path=db)
    assert len(bars) == 14 and bars.index[0] == pd.Timestamp("2024-03-05 09:30")
    assert bars["volume"].iloc[0] == 6000.0 and bars["volume"].iloc[6] == 3000.0
