"""The model lab: learned models judged by a protocol that tells the truth about them.

* :func:`fit_models` / :class:`ModelConfig` (:mod:`.lab`): features, labels, purged walk-forward,
  scores against three baselines, signal -> engine -> PSR/DSR/PBO verdict;
* :mod:`.gates`: the leakage gates; :mod:`.store`: the warehouse rows and ``var/models/``;
* :mod:`.hmm`: hidden-Markov regimes with filtered (causal) posteriors only;
* :mod:`.rl`: the trading environment and the PPO report (optional extra ``make rl``);
* :mod:`.liquidity`: the LiquidityPools event study; :mod:`.reviewer`: the Phi-Bot reviewer;
  :mod:`.plutus`: the LLM strategy against a local Ollama-compatible server.

See ``docs/models.md``.
"""

from __future__ import annotations

from primeflow_lib.research.models.lab import ModelConfig, ModelStudy, fit_models

__all__ = ["ModelConfig", "ModelStudy", "fit_models"]
