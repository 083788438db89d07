"""Plutus: an LLM strategy against a local Ollama-compatible server, judged like any other.

Server: ``POST {url}/api/chat`` with ``{"model", "messages", "stream": false, "format": "json",
"options": {"temperature": 0, "seed": seed}}``; the reply's ``message.content`` must be a JSON
object ``{"action": "long" | "short" | "flat", "confidence": 0..1}`` (Ollama's documented
non-streaming response: ``{"model", "created_at", "message": {"role", "content"}, "done"}``).
The project downloads no model: the server and its model are the user's (``--llm-url``,
``--llm-model``; default ``http://127.0.0.1:11434`` and ``llama3.1``).

Per bar after the **cut-off date** (``cutoff``: the model's training cut-off; history the model
may have memorised is look-ahead, so no bar on or before it is evaluated) the prompt holds the
last ``window`` bars as returns in percent, the bar range and relative volume - no dates, no
prices, no ticker - and the MFT regime. The response is parsed; the **confidence gate** keeps
it only at ``confidence >= min_confidence`` (signal ``+confidence`` long, ``-confidence``
short); anything else (flat, below the gate, unparseable) is signal 0. Every prompt and response
is stored (``research.llm_decisions``).

Evaluation: the signal (NaN before the first evaluated bar) and the ``phibot`` rule blend over
the same bars run through the engine with the same RunConfig costs; per-period Sharpe, total
return and PSR of both.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import requests

from primeflow_lib.research import overfit
from primeflow_lib.research.data import data_hash, validate_bars
from primeflow_lib.research.engine import simulate
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.metrics import simple_returns
from primeflow_lib.research.regime import regime_probabilities
from primeflow_lib.research.runconfig import RunConfig
from primeflow_lib.research.runner import blended_signal
from primeflow_lib.research.timeframes import periods_per_year

DEFAULT_URL = "http://127.0.0.1:11434"
DEFAULT_MODEL = "llama3.1"
SYSTEM = ("You are a cautious trading assistant. You see the recent bars of one instrument as "
          "percent returns. Reply with JSON only: {\"action\": \"long\"|\"short\"|\"flat\", "
          "\"confidence\": number between 0 and 1}.")


class LLMClient:
    """A minimal client of an Ollama-compatible ``/api/chat`` (see the module docstring)."""

    def __init__(self, url: str = DEFAULT_URL, model: str = DEFAULT_MODEL, timeout: float = 60.0, seed: int = 7):
        self.url, self.model, self.timeout, self.seed = url.rstrip("/"), model, timeout, seed

    def chat(self, prompt: str) -> str:
        body = {"model": self.model, "stream": False, "format": "json",
                "options": {"temperature": 0, "seed": self.seed},
                "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]}
        try:
            resp = requests.post(f"{self.url}/api/chat", json=body, timeout=self.timeout)
        except requests.ConnectionError:
            raise ResearchError(f"plutus.url: no LLM server answers at {self.url} (start a local Ollama-"
                                "compatible server, e.g. `ollama serve`, or pass --llm-url)") from None
        except requests.Timeout:
            raise ResearchError(f"plutus.url: the LLM server at {self.url} did not answer within "
                                f"{self.timeout:g} s") from None
        if resp.status_code == 404:
            raise ResearchError(f"plutus.model: the server at {self.url} has no model {self.model!r} "
                                f"({_error_text(resp)}); pull it on the server or pass --llm-model")
        if resp.status_code != 200:
            raise ResearchError(f"plutus.url: {self.url}/api/chat answered HTTP {resp.status_code}: {_error_text(resp)}")
        try:
            data = resp.json()
            return str(data["message"]["content"])
        except (ValueError, KeyError, TypeError):
            raise ResearchError(f"plutus.url: {self.url}/api/chat did not return the /api/chat shape "
                                f"(message.content): {resp.text[:200]!r}") from None


def _error_text(resp) -> str:
    try:
        return str(resp.json().get("error", resp.text[:200]))
    except ValueError:
        return resp.text[:200]


def parse(content: str) -> tuple[str, float, str | None]:
    """``(action, confidence, error)`` from a message content; unusable content is ``flat``
    with the error said."""
    try:
        obj = json.loads(content)
        action = str(obj["action"]).strip().lower()
        conf = float(obj["confidence"])
    except (ValueError, KeyError, TypeError) as exc:
        return "flat", 0.0, f"unparseable response: {exc.__class__.__name__}"
    if action not in ("long", "short", "flat"):
        return "flat", 0.0, f"unknown action {action!r}"
    if not 0.0 <= conf <= 1.0:
        return "flat", 0.0, f"confidence {conf!r} outside [0, 1]"
    return action, conf, None


@dataclass(frozen=True)
class PlutusConfig:
    """``cutoff`` (ISO date, required), ``window`` bars in the prompt, ``min_confidence`` gate,
    ``max_bars`` evaluated (the last ones after the cut-off), server ``url`` / ``model``, seed,
    and the RunConfig whose costs both strategies pay."""

    cutoff: str
    window: int = 20
    min_confidence: float = 0.6
    max_bars: int = 250
    url: str = DEFAULT_URL
    model: str = DEFAULT_MODEL
    seed: int = 7
    base: RunConfig = field(default_factory=lambda: RunConfig.from_dict({"entry": {"allow_short": True},
                                                                          "execution": {"slippage_pct": 0.0001}}))

    def __post_init__(self) -> None:
        try:
            dt.date.fromisoformat(str(self.cutoff))
        except ValueError:
            raise ResearchError(f"plutus.cutoff: {self.cutoff!r} is not a date (YYYY-MM-DD)") from None
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ResearchError(f"plutus.min_confidence: {self.min_confidence!r} must be in [0, 1]")
        for name in ("window", "max_bars"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ResearchError(f"plutus.{name}: {v!r} must be a whole number >= 1")


def prompt_for(frame: pd.DataFrame, t: int, window: int, regime: str | None) -> str:
    c = frame["close"].to_numpy()
    lo = max(1, t - window + 1)
    rets = 100.0 * (c[lo:t + 1] / c[lo - 1:t] - 1.0)
    rng = 100.0 * (frame["high"].iloc[t] - frame["low"].iloc[t]) / c[t]
    v = frame["volume"].to_numpy()
    relv = v[t] / max(float(np.mean(v[lo:t + 1])), 1.0)
    return (f"Last {len(rets)} bar returns in percent, oldest first: "
            f"{', '.join(f'{x:+.2f}' for x in rets)}. Last bar range {rng:.2f}% of price, volume "
            f"{relv:.2f}x its recent mean, regime {regime or 'unknown'}. Position for the next bar?")


@dataclass
class PlutusRun:
    llm_run_id: str
    config: PlutusConfig
    symbol: str
    decisions: pd.DataFrame
    comparison: pd.DataFrame


def run_plutus(bars: pd.DataFrame, config: PlutusConfig, symbol: str = "", client: LLMClient | None = None) -> PlutusRun:
    """Ask the LLM bar by bar after the cut-off and compare with the rule blend (module docstring)."""
    frame = validate_bars(bars.drop(columns=["ticker", "vendor", "trade_date"], errors="ignore"), symbol or "bars")
    cutoff = pd.Timestamp(config.cutoff) + pd.Timedelta(days=1)
    after = np.flatnonzero(frame.index >= cutoff)
    after = after[after >= config.window]
    if after.size < 2:
        raise ResearchError(f"plutus.cutoff: {config.cutoff} leaves {after.size} bars after it (with "
                            f"{config.window} bars of prompt history) in {frame.index[0]} .. {frame.index[-1]}; "
                            "the model may have memorised anything before its cut-off, so only later bars count")
    after = after[-config.max_bars:]
    client = client or LLMClient(config.url, config.model, seed=config.seed)
    regime = regime_probabilities(frame)["regime"].to_numpy(dtype=object)
    rows = []
    sig = np.full(len(frame), np.nan)
    for t in after:
        prompt = prompt_for(frame, int(t), config.window, regime[t])
        content = client.chat(prompt)
        action, conf, err = parse(content)
        s = 0.0
        if action != "flat" and conf >= config.min_confidence:
            s = conf if action == "long" else -conf
        sig[t] = s
        rows.append({"ts": frame.index[t], "prompt": prompt, "response": content, "action": action,
                     "confidence": conf, "signal": s, "error": err})
    decisions = pd.DataFrame(rows)
    params = config.base.engine_params()
    ppy = periods_per_year(config.base.dataset.timeframe)
    first = int(after[0])
    out = []
    for name, signal in (("plutus", sig), ("phibot_blend", _masked_blend(frame, config.base, first))):
        run = simulate(frame, signal, params)
        r = simple_returns(run.equity.to_numpy(), params.capital)[first + 1:]
        sr = overfit.sharpe_per_period(r) if len(r) >= 2 else math.nan
        out.append({"strategy": name, "bars": len(r), "sharpe_ann": sr * math.sqrt(ppy),
                    "total_return": float(np.prod(1 + r) - 1), "psr": overfit.probabilistic_sharpe_ratio(r),
                    "trades": int(len(run.trades))})
    rid = hashlib.sha256(json.dumps({"cfg": {**asdict(config), "base": config.base.canonical()},
                                     "data": data_hash(frame)}, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return PlutusRun(rid, config, symbol or "bars", decisions, pd.DataFrame(out))


def _masked_blend(frame: pd.DataFrame, base: RunConfig, first: int) -> np.ndarray:
    from primeflow_lib.research.presets import preset

    cfg = preset("phibot")
    s, *_ = blended_signal(cfg, frame)
    s = s.to_numpy().copy()
    s[:first] = np.nan
    return s


def write_plutus(con, run: PlutusRun) -> str:
    from primeflow_lib import warehouse
    from primeflow_lib.research.history import ensure_tables
    from primeflow_lib.schema.research import LLM_DECISIONS

    ensure_tables(con)
    df = run.decisions.copy()
    df.insert(0, "llm_run_id", run.llm_run_id)
    df.insert(1, "model", run.config.model)
    df["trade_date"] = pd.to_datetime(df["ts"]).dt.date
    with warehouse.transaction(con):
        warehouse.replace_where(con, LLM_DECISIONS, df[LLM_DECISIONS.column_names], {"llm_run_id": run.llm_run_id})
    return run.llm_run_id
