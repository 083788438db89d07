"""Operations that match the docs (issue 23, item 6): the feed says where batches go and what
scores them, replayed alerts carry a REPLAY marker and stay off live channels unless asked,
``--max-batches 0`` writes nothing, and the read copy is republished after runs by default."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "alerts"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "flow"))
from alert_helpers import alerts_cfg, make_signal  # noqa: E402
from flow_builders import make_prints  # noqa: E402

from primeflow_lib import warehouse  # noqa: E402
from primeflow_lib.alerts.formatting import REPLAY_MARKER  # noqa: E402
from primeflow_lib.alerts.outbox import REPLAY_CHANNEL, outbox_rows  # noqa: E402
from primeflow_lib.live import feed as feeds  # noqa: E402
from primeflow_lib.live import process  # noqa: E402
from primeflow_lib.live.inbox import batch_meta, inbox_path, list_batches, write_batch  # noqa: E402
from primeflow_pipelines.commands import main  # noqa: E402


def _prints(n: int = 6) -> pd.DataFrame:
    return make_prints([{"t": f"10:00:{i:02d}"} for i in range(n)])


def test_max_batches_zero_writes_nothing():
    rep = feeds.emit_in_real_time(_prints(), speed=1e6, batch_seconds=0.05, max_batches=0,
                                  sleep=lambda s: None)
    assert rep.batches == 0 and list_batches() == []
    rep = feeds.emit_in_real_time(_prints(), speed=1e6, batch_seconds=0.05, max_batches=1, sleep=lambda s: None)
    assert rep.batches == 1 and len(list_batches()) == 1


def test_feed_cli_says_where_batches_go_and_refuses_bad_values():
    r = CliRunner().invoke(main, ["feed", "--source", "synthetic", "--max-batches", "0", "--tickers", "SPY",
                                  "--date", "2024-06-03"])
    assert r.exit_code == 0, r.output
    assert f"batches go to {inbox_path()}" in r.output and "make ui" in r.output
    assert "done: 0 batches" in r.output and list_batches() == []
    for args in (["--speed", "0"], ["--speed", "-1"], ["--max-batches", "-1"], ["--batch-seconds", "0"],
                 ["--date", "2024-06-01"], ["--date", "junk"], ["--start", "25:99"]):
        r = CliRunner().invoke(main, ["feed", "--tickers", "SPY", "--date", "2024-06-03", *args] if "--date" not in args
                               else ["feed", "--tickers", "SPY", *args])
        assert r.exit_code in (1, 2), (args, r.output)
        assert "Traceback" not in r.output and "Error" in r.output, (args, r.output)


def test_feed_warns_when_nothing_scores_the_inbox():
    path = write_batch(_prints(), prefix="old")
    old = time.time() - 600
    os.utime(path, (old, old))
    r = CliRunner().invoke(main, ["feed", "--max-batches", "0", "--tickers", "SPY", "--date", "2024-06-03"])
    assert r.exit_code == 0 and "1 batch(es) have waited up to 10 min" in r.output and "make ui" in r.output


def test_batches_carry_what_wrote_them():
    p = write_batch(_prints(), meta={"feed": "replay", "replay_of": "2024-06-03", "replay_to_live": False})
    assert batch_meta(p) == {"feed": "replay", "replay_of": "2024-06-03", "replay_to_live": False}
    assert batch_meta(write_batch(_prints())) == {}


def test_replayed_alerts_are_marked_and_stay_off_live_channels():
    cfg = alerts_cfg()
    sigs = [make_signal(i, kind=k) for i, k in enumerate(["SCALP", "DAY_TRADE", "SWING"])]
    live = outbox_rows(sigs, cfg)
    assert {r[5] for r in live} == {"telegram_scalps", "telegram_main", "telegram_swings"}
    assert not any(REPLAY_MARKER in r[9] for r in live)
    replay = outbox_rows(sigs, cfg, replay_of="2024-06-03")
    assert {r[5] for r in replay} == {REPLAY_CHANNEL}
    assert all(r[9].startswith(f"{REPLAY_MARKER} of 2024-06-03") for r in replay)
    assert all(json.loads(r[10])["replay_of"] == "2024-06-03" for r in replay)
    asked = outbox_rows(sigs, cfg, replay_of="2024-06-03", replay_to_live=True)
    assert {r[5] for r in asked} == {r[5] for r in live}  # live channels only when asked
    assert all(r[9].startswith(REPLAY_MARKER) for r in asked)  # and still marked


def test_scoring_a_replayed_batch_passes_the_replay_to_the_outbox(monkeypatch, tmp_path):
    from flow_builders import DAY

    seen = {}

    def spy(con, signals, cfg, **kw):
        seen.update(kw)
        return 0

    monkeypatch.setattr(process, "enqueue_alerts", spy)
    live = warehouse.warehouse_path()
    with warehouse.connect(live) as con:
        warehouse.ensure_tables(con)
    f = write_batch(_prints(), meta={"feed": "replay", "replay_of": str(DAY.date())})
    from primeflow_lib.config import load_config

    out = process.score_batch_file(f, lambda: warehouse.connect(live), load_config())
    assert out.replay_of == str(DAY.date())
    assert (seen["replay_of"], seen["replay_to_live"]) == (str(DAY.date()), False)


def test_publish_read_copy_on_success_runs_by_default_and_coalesces():
    import dagster as dg

    from primeflow_pipelines.defs.jobs import publish_read_copy_on_success as sensor

    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)

    @dg.op
    def noop():
        return 1

    @dg.job
    def tiny():
        noop()

    with dg.instance_for_test() as instance:
        old = time.time() - 3600
        warehouse.publish_read_copy()
        os.utime(warehouse.read_copy_path(), (old, old))  # a copy taken before the run
        res = tiny.execute_in_process(instance=instance)
        run = instance.get_run_by_id(res.run_id)
        event = next(e for e in instance.all_logs(res.run_id) if e.dagster_event
                     and e.dagster_event.event_type_value == "PIPELINE_SUCCESS").dagster_event
        ctx = dg.build_run_status_sensor_context(sensor_name=sensor.name, dagster_event=event,
                                                 dagster_instance=instance, dagster_run=run)
        sensor(ctx)  # the copy predates the run: republished
        snap = warehouse.read_copy_snapshot_time()
        assert snap > old + 1000
        sensor(ctx)  # a second run event ending before that snapshot: already held, no copy
        assert warehouse.read_copy_snapshot_time() == snap
