"""Dagster knows about the stream: ``stream_health_sensor`` observes ``live/stream`` from the
status files, and a stalled stream (no heartbeat for ``stream.stall_seconds``) gets a failed run
of ``stream_stalled_job`` that alerts the heartbeat channel; the status file is written
atomically; the journal reads back what was written, up to a torn last chunk."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import pandas as pd

from primeflow_lib.live.stream.journal import Journal
from primeflow_lib.live.stream.status import is_stalled, read_statuses, write_status
from primeflow_lib.live.stream.store import stream_dir
from primeflow_pipelines.defs.live.stream_health import (
    STREAM_ASSET,
    stream_health_sensor,
    stream_stalled_job,
)
from primeflow_pipelines.defs.resources import PrimeflowConfig, WarehouseResource


def _status(age_s: float, state: str = "streaming", sid: str = "main") -> None:
    write_status(stream_dir(), sid, {"state": state, "prints": 10, "signals": 2, "lag_seconds": 0.4})
    p = stream_dir() / f"status-{sid}.json"
    body = json.loads(p.read_text())
    body["heartbeat_at"] = (dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(seconds=age_s)).isoformat()
    p.write_text(json.dumps(body))


def test_sensor_observes_streams_and_fails_a_run_for_a_stalled_one(tmp_path, monkeypatch):
    cfg_file = tmp_path / "config.yaml"
    cfg_file.write_text("alerts:\n  heartbeat_channel: ops\n  channels:\n    ops: {type: file, path: "
                        f"{tmp_path / 'ops.jsonl'}}}\n")
    monkeypatch.setenv("PRIMEFLOW_CONFIG", str(cfg_file))
    _status(1.0, sid="main")
    _status(600.0, sid="p1of2")
    _status(600.0, state="stopped", sid="p2of2")
    with dg.instance_for_test() as instance:
        ctx = dg.build_sensor_context(instance=instance)
        res = stream_health_sensor(ctx)
        obs = {e.metadata["stream_id"].value: e for e in res.asset_events}
        assert set(obs) == {"main", "p1of2", "p2of2"} and all(e.asset_key == STREAM_ASSET for e in res.asset_events)
        assert obs["main"].metadata["stalled"].value is False and obs["p1of2"].metadata["stalled"].value is True
        assert obs["p2of2"].metadata["stalled"].value is False  # stopped on purpose
        [req] = res.run_requests
        assert req.run_key.startswith("stalled:p1of2:")
        again = stream_health_sensor(dg.build_sensor_context(instance=instance))
        assert again.run_requests[0].run_key == req.run_key  # same stall, same run key: one run
        result = stream_stalled_job.execute_in_process(
            run_config=req.run_config, instance=instance, raise_on_error=False,
            resources={"warehouse": WarehouseResource(), "primeflow_config": PrimeflowConfig()})
    assert not result.success
    failure = [e for e in result.all_events if e.is_step_failure][0]
    assert "stalled" in str(failure.event_specific_data.error.message)
    line = json.loads((tmp_path / "ops.jsonl").read_text().splitlines()[-1])
    assert "p1of2 stalled" in line["text"]


def test_status_and_journal(tmp_path):
    write_status(tmp_path, "x", {"state": "streaming"})
    [st] = read_statuses(tmp_path)
    assert st["stream_id"] == "x" and not is_stalled(st, 60) and is_stalled(st, -1)
    (tmp_path / "status-bad.json").write_text("{")
    assert any("error" in s for s in read_statuses(tmp_path))
    j = Journal(tmp_path, "main", dt.date(2025, 6, 12))
    rows = pd.DataFrame({"trade_date": [dt.date(2025, 6, 12)] * 2, "print_id": ["a", "b"], "option_symbol": ["X"] * 2,
                         "underlying": ["SPY"] * 2, "sip_ts": pd.to_datetime(["2025-06-12 10:00"] * 2),
                         "sip_timestamp": [1, 2], "exchange": [1, 1], "price": [1.0, 2.0], "size": [1, 1],
                         "conditions": ["209"] * 2, "seq": [0, 1], "vendor": ["x"] * 2})
    assert j.append(rows, "7", dt.datetime(2025, 6, 12, 14), clock_ns=5) == 0
    j.mark("step")
    assert j.append(rows, "9", dt.datetime(2025, 6, 12, 14)) == 2
    j.close()
    seg = j.segments()[0]
    seg.write_bytes(seg.read_bytes()[:-30])  # killed while writing the last chunk
    k = Journal(tmp_path, "main", dt.date(2025, 6, 12))
    chunks = list(k.read())
    assert [c.step for c in chunks] == [None, "step"] and k.rows == 2 and k.last_position == "7" and k.torn == 1
    assert chunks[0].clock_ns == 5 and list(chunks[0].prints["print_id"]) == ["a", "b"]
    k.open()
    assert k.append(rows, "10", dt.datetime(2025, 6, 12, 14)) == 2  # a new segment continues the numbering
    k.close()
    assert [c.rx0 for c in Journal(tmp_path, "main", dt.date(2025, 6, 12)).read() if c.step is None] == [0, 2]


def test_a_clock_that_jumps_ahead_is_quarantined_not_scored():
    import numpy as np
    from stream_fixtures import loader, session, stream_cfg

    from primeflow_lib.live.stream.scorer import SessionMarket, StreamScorer

    s = session()
    cfg = stream_cfg()
    p = s.prints.iloc[:50].reset_index(drop=True)
    now = int(p["sip_timestamp"].iloc[10])  # the wall clock at the 11th print
    sc = StreamScorer(s.day, cfg, SessionMarket(s.day, cfg, loader(s)), wall_ns=lambda: now)
    jumped = p.copy()
    jumped.loc[40:, "sip_timestamp"] = jumped.loc[40:, "sip_timestamp"] + 120_000_000_000  # 2 minutes ahead
    sc.add(jumped, np.arange(len(jumped)))
    q = sc.advance().quarantine
    ahead = q[q["reason"].str.contains("ahead of the wall clock")]
    assert sorted(ahead["row_number"]) == list(range(40, 50))
    assert sc.watermark < now + 120_000_000_000  # the frontier did not jump
