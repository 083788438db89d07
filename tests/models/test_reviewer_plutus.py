"""Phi-Bot reviewer (proposals run out of sample, kept only under DSR/PBO) and Plutus (an LLM
strategy against a fake local Ollama-compatible server returning the documented shape)."""

from __future__ import annotations

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import numpy as np
import pytest
from model_fixtures import walk_bars

from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.models.plutus import (
    LLMClient,
    PlutusConfig,
    parse,
    run_plutus,
    write_plutus,
)
from primeflow_lib.research.models.reviewer import review, write_review
from primeflow_lib.research.presets import preset


def test_reviewer_runs_every_proposal_out_of_sample_and_records_why(tmp_path):
    rev = review(preset("phibot", "SYN"), walk_bars(900, seed=31))
    t = rev.table
    assert t["proposal"].iloc[0] == "base" and len(t) >= 2
    assert (t["pbo"].nunique() == 1) and np.isfinite(t["dsr"]).all()
    base_dsr = t["dsr"].iloc[0]
    for row in t.iloc[1:].itertuples():
        assert row.accepted == (row.dsr > base_dsr and row.pbo <= 0.5)
        assert row.decision.startswith("kept:" if row.accepted else "rejected:")
    assert "indicator_sharpe" in rev.diagnostics and rev.diagnostics["bars"] < 900
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    write_review(con, rev)
    got = con.execute("SELECT proposal, accepted, decision FROM research.reviewer_proposals").df()
    assert len(got) == len(t)


def test_reviewer_refuses_non_signal_strategies():
    from primeflow_lib.research.runconfig import RunConfig

    with pytest.raises(ResearchError, match="strategy: 'buy_and_hold'"):
        review(RunConfig.from_dict({"strategy": "buy_and_hold"}), walk_bars(500))


class FakeOllama(BaseHTTPRequestHandler):
    """POST /api/chat: 'long' with confidence 0.8 after an up bar, 'short' 0.5 after a down bar
    (below a 0.6 gate); mode 'garbage' answers content that is not JSON."""

    mode = "ok"
    seen: list = []

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("model") != "fake-llm":
            return self._send(404, {"error": f"model '{body.get('model')}' not found"})
        FakeOllama.seen.append(body)
        prompt = body["messages"][-1]["content"]
        last = float(re.findall(r"[+-]\d+\.\d+", prompt.split(". Last bar")[0])[-1])
        if FakeOllama.mode == "garbage":
            content = "I think it goes up!"
        else:
            content = json.dumps({"action": "long", "confidence": 0.8} if last > 0 else
                                 {"action": "short", "confidence": 0.5})
        self._send(200, {"model": "fake-llm", "created_at": "2026-01-01T00:00:00Z",
                         "message": {"role": "assistant", "content": content}, "done": True,
                         "done_reason": "stop"})

    def _send(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeOllama)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    FakeOllama.mode, FakeOllama.seen = "ok", []
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def cfg(url, **kw):
    return PlutusConfig(**{"cutoff": "2011-06-30", "url": url, "model": "fake-llm", "max_bars": 60, **kw})


def test_plutus_asks_per_bar_after_the_cutoff_gates_confidence_and_stores_everything(server, tmp_path):
    bars = walk_bars(400, seed=32)  # 2010-01-01 .. 2011-07-14: bars after 2011-06-30 only
    run = run_plutus(bars, cfg(server), "SYN")
    d = run.decisions
    assert len(d) == len(FakeOllama.seen) and (d["ts"] > "2011-06-30 23:59").all()
    req = FakeOllama.seen[0]
    assert req["stream"] is False and req["format"] == "json" and req["options"]["temperature"] == 0
    assert "2011" not in d["prompt"].iloc[0] and "SYN" not in d["prompt"].iloc[0]  # no dates, no ticker
    longs, shorts = d[d.action == "long"], d[d.action == "short"]
    assert (longs["signal"] == 0.8).all() and (shorts["signal"] == 0.0).all()  # 0.5 < the 0.6 gate
    assert set(run.comparison["strategy"]) == {"plutus", "phibot_blend"}
    assert (run.comparison["bars"] == run.comparison["bars"].iloc[0]).all()
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    write_plutus(con, run)
    assert con.execute("SELECT count(*) FROM research.llm_decisions").fetchone()[0] == len(d)


def test_unparseable_answers_are_flat_with_the_reason(server):
    FakeOllama.mode = "garbage"
    d = run_plutus(walk_bars(400, seed=33), cfg(server, max_bars=5)).decisions
    assert (d["action"] == "flat").all() and (d["signal"] == 0).all()
    assert d["error"].str.startswith("unparseable response").all()


def test_cutoff_gate_model_name_and_missing_server_are_clear_errors(server):
    with pytest.raises(ResearchError, match=r"plutus.cutoff: 2030-01-01 leaves 0 bars after it"):
        run_plutus(walk_bars(400), cfg(server, cutoff="2030-01-01"))
    with pytest.raises(ResearchError, match=r"plutus.model: the server at .* has no model 'llama9'"):
        LLMClient(server, "llama9").chat("hi")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(ResearchError, match=rf"plutus.url: no LLM server answers at http://127.0.0.1:{closed}"):
        LLMClient(f"http://127.0.0.1:{closed}", "fake-llm", timeout=5).chat("hi")
    with pytest.raises(ResearchError, match=r"plutus.cutoff: 'soon' is not a date"):
        PlutusConfig(cutoff="soon")


def test_parse_reads_the_documented_answer_and_refuses_nonsense():
    assert parse('{"action": "LONG", "confidence": 0.7}') == ("long", 0.7, None)
    assert parse('{"action": "buy", "confidence": 0.7}')[2] == "unknown action 'buy'"
    assert parse('{"action": "long", "confidence": 7}')[2] == "confidence 7.0 outside [0, 1]"
