"""Declarations of the ``research`` schema: indicator signals, regimes, blends, backtests.

Signals, regimes and blends are per-bar tables partitioned by ``trade_date``; the three backtest
tables are keyed by ``run_id`` (a hash of the RunConfig, see ``primeflow_lib.research.runconfig``)
and rewritten whole per run: delete that run's rows, insert, in one transaction.
"""

from __future__ import annotations

from primeflow_lib.schema.base import C, Column, Table

VENDOR = C("vendor", "VARCHAR", "vendor of the bars the row was computed from", nullable=True)
TRADE_DATE = C("trade_date", "DATE", "session of the bar")
TS = C("ts", "TIMESTAMP", "bar start, America/New_York wall time (daily bars: session date 00:00)")
TICKER = C("ticker", "VARCHAR", "underlying symbol")
TIMEFRAME = C("timeframe", "VARCHAR", "bar timeframe: 1m 5m 15m 30m 1h 4h 1d")
RUN_ID = C("run_id", "VARCHAR", "16 hex digits of SHA-256 of the run's canonical RunConfig")


def _metric(name: str, doc: str) -> Column:
    return C(name, "DOUBLE", doc, nullable=True)


INDICATOR_SIGNALS = Table(
    schema="research",
    name="indicator_signals",
    columns=(
        TRADE_DATE,
        TS,
        TICKER,
        TIMEFRAME,
        C("indicator", "VARCHAR", "registry key (rsi, macd, ..., or name:label)"),
        C("params_id", "VARCHAR", "12 hex digits of SHA-256 of the resolved parameters"),
        C("params", "JSON", "resolved parameters (defaults filled in)"),
        C(
            "value",
            "DOUBLE",
            "the indicator's first raw line (see docs/research.md), its own units",
            nullable=True,
        ),
        C(
            "signal",
            "DOUBLE",
            "signal in [-1, +1], +1 = strong buy; NULL during warm-up",
            nullable=True,
        ),
        VENDOR,
    ),
    key=("ticker", "timeframe", "indicator", "params_id", "ts"),
    doc="Per-bar signals of the 15 registry indicators, causal (bar t uses bars up to t).",
)

REGIMES = Table(
    schema="research",
    name="regimes",
    columns=(
        TRADE_DATE,
        TS,
        TICKER,
        TIMEFRAME,
        C("params_id", "VARCHAR", "12 hex digits of SHA-256 of the resolved regime parameters"),
        C("p_trend_up", "DOUBLE", "probability of TREND_UP", nullable=True),
        C("p_trend_down", "DOUBLE", "probability of TREND_DOWN", nullable=True),
        C("p_range", "DOUBLE", "probability of RANGE", nullable=True),
        C("p_breakout", "DOUBLE", "probability of BREAKOUT", nullable=True),
        C("p_high_vol", "DOUBLE", "probability of HIGH_VOL (the five sum to 1)", nullable=True),
        C("regime", "VARCHAR", "most probable regime; NULL during warm-up", nullable=True),
        C("phi", "DOUBLE", "phi_mft composite signal in [-1, +1]", nullable=True),
        C("trend", "DOUBLE", "(EMA fast - EMA slow) / ATR slow, in ATRs", nullable=True),
        C("adx", "DOUBLE", "ADX, 0-100", nullable=True),
        C("vol", "DOUBLE", "std of log returns per bar (not annualised)", nullable=True),
        C("vol_pct", "DOUBLE", "percentile rank of vol in its rank window, (0, 1]", nullable=True),
        C("vol_ratio", "DOUBLE", "vol / its mean over the rank window", nullable=True),
        C(
            "momentum",
            "DOUBLE",
            "log move over momentum_period as a random-walk z-score",
            nullable=True,
        ),
        C("volume_pressure", "DOUBLE", "(up-bar - down-bar volume) / both, [-1, 1]", nullable=True),
        C(
            "compression",
            "DOUBLE",
            "1 - percentile rank of the channel width, [0, 1)",
            nullable=True,
        ),
        C(
            "breakout_dir",
            "DOUBLE",
            "+1 close above prior channel, -1 below, 0 inside",
            nullable=True,
        ),
        VENDOR,
    ),
    key=("ticker", "timeframe", "params_id", "ts"),
    doc="MFT regime engine: per-bar probabilities of TREND_UP, TREND_DOWN, RANGE, BREAKOUT and "
    "HIGH_VOL with the features behind them (causal).",
)

BLENDS = Table(
    schema="research",
    name="blends",
    columns=(
        TRADE_DATE,
        TS,
        TICKER,
        TIMEFRAME,
        C(
            "blend_id",
            "VARCHAR",
            "12 hex digits of SHA-256 of indicators + blend + regime settings",
        ),
        C("mode", "VARCHAR", "weighted_sum | voting | regime_weighted | phiai"),
        C("signal", "DOUBLE", "blended signal in [-1, +1]; NULL during warm-up", nullable=True),
        C("weights", "JSON", "per-indicator weights applied on this bar", nullable=True),
        VENDOR,
    ),
    key=("ticker", "timeframe", "blend_id", "ts"),
    doc="Blended signals of several indicators (weighted sum, weighted vote, regime-weighted, or "
    "phiai walk-forward weights from each indicator's out-of-sample backtest score).",
)

BACKTEST_RUNS = Table(
    schema="research",
    name="backtest_runs",
    columns=(
        RUN_ID,
        C("created_at", "TIMESTAMP", "when the run finished (UTC)"),
        C("engine_version", "VARCHAR", "engine version the run_id includes"),
        C("strategy", "VARCHAR", "signals | buy_and_hold | momentum_rotation"),
        C("mode", "VARCHAR", "equities | options"),
        C("symbol", "VARCHAR", "ticker, CSV name, or panel name"),
        C("timeframe", "VARCHAR", "bar timeframe"),
        C("start_date", "DATE", "requested first session (inclusive)", nullable=True),
        C("end_date", "DATE", "requested last session (inclusive)", nullable=True),
        C("first_bar", "TIMESTAMP", "first bar the run saw"),
        C("last_bar", "TIMESTAMP", "last bar the run saw"),
        C("n_bars", "BIGINT", "bars in the run"),
        C("vendor", "VARCHAR", "vendor of the bars, when known", nullable=True),
        C("capital", "DOUBLE", "starting capital, USD"),
        C(
            "data_hash",
            "VARCHAR",
            "16 hex digits of SHA-256 of the bars (same id + hash = same run)",
        ),
        C("metric", "VARCHAR", "the config's evaluation metric"),
        _metric("metric_value", "value of the evaluation metric"),
        C("description", "VARCHAR", "free text (not part of run_id)"),
        C("tags", "JSON", "list of tags (not part of run_id)"),
        C("config", "JSON", "the full RunConfig"),
        C("metrics", "JSON", "every metric (inf/NaN as null)"),
        _metric("total_return", "E_n / E_0 - 1"),
        _metric("cagr", "compound annual growth rate"),
        _metric("sharpe", "annualised Sharpe ratio, rf = 0"),
        _metric("sortino", "annualised Sortino ratio, target 0"),
        _metric("calmar", "CAGR / |max drawdown|"),
        _metric("max_drawdown", "largest peak-to-trough fall, negative fraction"),
        C("max_drawdown_duration", "BIGINT", "longest run of bars below the peak"),
        _metric("volatility", "annualised std of bar returns"),
        _metric("profit_factor", "gross profit / gross loss of closed trades"),
        _metric("win_rate", "fraction of closed trades with pnl > 0"),
        _metric("avg_win", "mean pnl of winning closed trades, USD"),
        _metric("avg_loss", "mean pnl of losing closed trades, USD"),
        _metric("exposure", "fraction of bars ending with a position"),
        _metric("direction_accuracy", "fraction of held bars whose move matched the position"),
        C("n_trades", "BIGINT", "trades including one still open"),
        _metric("final_equity", "equity at the last close, USD"),
        C("elapsed_s", "DOUBLE", "wall time of the run, seconds"),
    ),
    key=("run_id",),
    partition_column=None,
    doc="One row per backtest run: its config, data fingerprint and metrics. Rewritten when the "
    "same run_id is run again.",
)

BACKTEST_TRADES = Table(
    schema="research",
    name="backtest_trades",
    columns=(
        RUN_ID,
        C("trade_no", "BIGINT", "1-based trade number in entry order"),
        TICKER,
        C("side", "VARCHAR", "long | short"),
        C("entry_ts", "TIMESTAMP", "bar of the entry fill"),
        C("exit_ts", "TIMESTAMP", "bar of the exit fill (last bar for an open trade)"),
        C("entry_price", "DOUBLE", "entry fill incl. slippage, USD"),
        C("exit_price", "DOUBLE", "exit fill incl. slippage, USD (last close for an open trade)"),
        C("qty", "DOUBLE", "shares"),
        C("pnl", "DOUBLE", "profit net of both fills' fees, USD"),
        C("ret", "DOUBLE", "pnl / (qty * entry_price)"),
        C("fees", "DOUBLE", "commission of both fills, USD"),
        C(
            "exit_reason",
            "VARCHAR",
            "signal | stop_loss | take_profit | trailing_stop | time | rebalance | open",
        ),
        C("bars_held", "BIGINT", "exit bar index - entry bar index"),
        C("is_open", "BOOLEAN", "still open after the last bar (valued at the last close)"),
    ),
    key=("run_id", "trade_no"),
    partition_column=None,
    doc="Trades of each backtest run.",
)

BACKTEST_EQUITY = Table(
    schema="research",
    name="backtest_equity",
    columns=(
        RUN_ID,
        TS,
        C("equity", "DOUBLE", "equity at the close, USD"),
        C("drawdown", "DOUBLE", "equity / running peak - 1, <= 0"),
        C("position", "DOUBLE", "signed shares held at the close (rotation: tickers held)"),
        C("exposure", "DOUBLE", "position market value / equity (signed)", nullable=True),
        C("signal", "DOUBLE", "blended signal of the bar", nullable=True),
    ),
    key=("run_id", "ts"),
    partition_column=None,
    doc="Equity curve of each backtest run, one row per bar.",
)

BACKTEST_LEGS = Table(
    schema="research",
    name="backtest_legs",
    columns=(
        RUN_ID,
        C("trade_no", "BIGINT", "the structure trade (research.backtest_trades.trade_no)"),
        C("leg_no", "BIGINT", "1-based leg number within the structure"),
        TICKER,
        C("structure", "VARCHAR", "structure name (bull_put, iron_condor, ...)"),
        C("right", "VARCHAR", "C or P"),
        C("strike", "DOUBLE", "strike, USD"),
        C("expiry", "DATE", "expiry session (expires at its 16:00 close)"),
        C("contracts", "BIGINT", "signed contracts: negative = short; x100 shares each"),
        C("entry_ts", "TIMESTAMP", "entry fill time (open of the fill bar, New York)"),
        C("exit_ts", "TIMESTAMP", "exit fill time (next open, or the expiry close; last close if open)"),
        C("entry_spot", "DOUBLE", "underlying price used at entry, USD"),
        C("entry_iv", "DOUBLE", "vol used at entry, annualised fraction"),
        C("entry_years", "DOUBLE", "ACT/365 years from entry_ts to expiry 16:00"),
        C("entry_mid", "DOUBLE", "Black-Scholes-Merton mid at entry, USD per share"),
        C("entry_fill", "DOUBLE", "entry fill = mid +/- fraction of the modelled half-spread"),
        C("exit_spot", "DOUBLE", "underlying price used at exit, USD"),
        C("exit_iv", "DOUBLE", "vol used at exit; NULL for a leg settled at expiry", nullable=True),
        C("exit_years", "DOUBLE", "ACT/365 years left at exit (0 = expired)"),
        C("exit_mid", "DOUBLE", "model mid at exit (intrinsic when expired), USD per share"),
        C("exit_fill", "DOUBLE", "exit fill, USD per share (mid for an open trade)"),
        C("rate", "DOUBLE", "risk-free rate of the trade, continuous annual fraction"),
        C("div_yield", "DOUBLE", "dividend yield of the trade, continuous annual fraction"),
        C("iv_source", "VARCHAR", "chain (market.option_chain IV) | realized (proxy)"),
        C("exit_reason", "VARCHAR", "stop | profit_take | dte | signal | time | expiry | open"),
        C("is_open", "BOOLEAN", "trade still open after the last bar (valued at mid)"),
    ),
    key=("run_id", "trade_no", "leg_no"),
    partition_column=None,
    doc="Option legs of each options-mode backtest run: every number needed to reprice a leg "
    "at entry and exit with another library.",
)

STUDY_ID = C("study_id", "VARCHAR", "16 hex digits of SHA-256 of the tune config, dataset, data hash, seed, budget, folds, metric and code versions")

TUNING_STUDIES = Table(
    schema="research",
    name="tuning_studies",
    columns=(
        STUDY_ID,
        C("created_at", "TIMESTAMP", "when the study finished (UTC)"),
        C("symbol", "VARCHAR", "ticker or CSV name"),
        TIMEFRAME,
        C("first_bar", "TIMESTAMP", "first bar of the data"),
        C("last_bar", "TIMESTAMP", "last bar of the data"),
        C("n_bars", "BIGINT", "bars in the data"),
        C("data_hash", "VARCHAR", "16 hex digits of SHA-256 of the bars"),
        C("indicators", "JSON", "candidate indicators"),
        C("sampler", "VARCHAR", "sobol | random | grid"),
        C("seed", "BIGINT", "sampler seed"),
        C("budget", "BIGINT", "tuning trials requested (shared by the selected indicators)"),
        C("n_trials", "BIGINT", "every configuration evaluated (selection + tuning): the N of DSR and PBO"),
        C("metric", "VARCHAR", "fold score (sharpe)"),
        C("folds", "JSON", "fold spec and the fold windows (bar indices, half-open)"),
        C("purge", "BIGINT", "bars between each train and test window: longest lookback + holding horizon"),
        C("tune_config", "JSON", "the full tune config"),
        C("base_config", "JSON", "the RunConfig whose engine, cost and sizing settings every trial used"),
        C("tuner_version", "VARCHAR", "tuner version in the study id"),
        C("engine_version", "VARCHAR", "engine version in the study id"),
        C("wall_s", "DOUBLE", "wall time of the study, seconds"),
    ),
    key=("study_id",),
    partition_column=None,
    doc="One row per PhiAI tuning study (see docs/tuning.md). Rewritten when the same study id runs again.",
)

TUNING_TRIALS = Table(
    schema="research",
    name="tuning_trials",
    columns=(
        STUDY_ID,
        C("trial_no", "BIGINT", "1-based trial number in evaluation order"),
        C("step", "VARCHAR", "select (candidate with default parameters) | tune (sampled parameters)"),
        C("indicator", "VARCHAR", "registry key"),
        C("params", "JSON", "resolved parameters of the trial"),
        C("is_metric", "JSON", "per-fold train Sharpe, per period (list, fold order)"),
        C("oos_metric", "JSON", "per-fold test Sharpe, per period (list, fold order)"),
        _metric("is_sharpe", "mean train Sharpe over the folds, annualised"),
        _metric("oos_sharpe", "Sharpe over all test windows together, annualised"),
        _metric("oos_sharpe_per_period", "the same, per period (the DSR's trial Sharpe)"),
        C("n_trades", "BIGINT", "trades over the whole series (an open one included)"),
    ),
    key=("study_id", "trial_no"),
    partition_column=None,
    doc="Every trial of every tuning study, pruned or not: parameters and per-fold in-sample and out-of-sample scores.",
)

TUNED_PARAMETERS = Table(
    schema="research",
    name="tuned_parameters",
    columns=(
        STUDY_ID,
        C("indicator", "VARCHAR", "a selected indicator"),
        C("params", "JSON", "its chosen parameters (best on the last train window)"),
        C("blend_mode", "VARCHAR", "weighted_sum (one indicator) | phiai (walk-forward weights)"),
        _metric("weight", "blend weight on the last bar of the chosen run (phiai weights move per bar)"),
        _metric("is_sharpe", "walk-forward winners' mean train Sharpe, annualised"),
        _metric("oos_sharpe", "Sharpe of the concatenated walk-forward test windows, annualised"),
        _metric("psr", "Probabilistic Sharpe Ratio of the OOS series vs 0"),
        _metric("dsr", "Deflated Sharpe Ratio of the OOS series given every trial"),
        _metric("pbo", "Probability of Backtest Overfitting (CSCV)"),
        _metric("min_trl", "Minimum Track Record Length for PSR 0.95 vs 0, bars (NULL = never)"),
        _metric("prob_oos_loss", "CSCV share of splits where the IS winner loses OOS"),
        _metric("degradation_slope", "CSCV slope of OOS on IS Sharpe of the IS winner"),
        C("n_trials", "BIGINT", "N of the DSR and PBO"),
        C("verdict", "VARCHAR", "the verdict in words, e.g. 'likely overfit: PBO 0.62'"),
        C("run_id", "VARCHAR", "research.backtest_runs id of the chosen configuration's OOS backtest", nullable=True),
        C("run_config", "JSON", "the tuned RunConfig"),
    ),
    key=("study_id", "indicator"),
    partition_column=None,
    doc="The outcome of each tuning study, one row per selected indicator: parameters, blend, statistics, verdict and the OOS run.",
)

FIT_ID = C("fit_id", "VARCHAR", "16 hex digits of SHA-256 of the model-lab config (models, label, horizon, features, folds, seed, engine settings) and the data hash")

MODEL_STUDIES = Table(
    schema="research",
    name="model_studies",
    columns=(
        FIT_ID,
        C("created_at", "TIMESTAMP", "when the fit finished (UTC)"),
        C("symbol", "VARCHAR", "ticker or CSV name"),
        TIMEFRAME,
        C("source", "VARCHAR", "where the bars came from: the warehouse (with vendor) or the CSV path"),
        C("first_bar", "TIMESTAMP", "first bar of the data"),
        C("last_bar", "TIMESTAMP", "last bar of the data"),
        C("n_bars", "BIGINT", "bars in the data"),
        C("label", "VARCHAR", "direction | vol_bucket | regime"),
        C("horizon", "BIGINT", "label horizon in bars (the label of bar t uses bars t+1 .. t+horizon)"),
        C("models", "JSON", "the fitted models (registry names)"),
        C("features", "JSON", "feature columns, in order"),
        C("folds", "JSON", "fold spec and windows (bar indices, half-open)"),
        C("purge", "BIGINT", "bars between each train and test window (>= the label horizon)"),
        C("seed", "BIGINT", "seed of every model, shuffle and bootstrap"),
        C("data_hash", "VARCHAR", "16 hex digits of SHA-256 of the bars"),
        C("config", "JSON", "the full model-lab config"),
        C("best_model", "VARCHAR", "the fitted model with the highest pooled OOS AUC"),
        C("edge", "BOOLEAN", "true when best_model beats all three baselines on AUC, log-loss and Brier out of sample"),
        C("verdict", "VARCHAR", "the verdict in words ('no edge: ...', or the trading verdict from DSR and PBO)"),
        _metric("oos_sharpe", "annualised Sharpe of best_model's signal through the engine over the OOS bars"),
        _metric("buy_hold_sharpe", "annualised Sharpe of buy-and-hold over the same OOS bars and costs"),
        _metric("psr", "PSR of best_model's OOS returns vs 0"),
        _metric("dsr", "DSR of best_model's OOS returns given every trial (models x thresholds + baselines)"),
        _metric("pbo", "PBO (CSCV) over every trial's OOS returns"),
        C("n_trials", "BIGINT", "N of the DSR and PBO"),
        C("trials", "JSON", "every trial: name, per-period and annualised Sharpe, total return, trades"),
        C("wall_s", "DOUBLE", "wall time of the fit, seconds"),
    ),
    key=("fit_id",),
    partition_column=None,
    doc="One row per model-lab fit (docs/models.md): what was fitted on which bars, whether the best model beats its baselines, and the trading verdict.",
)

MODEL_FITS = Table(
    schema="research",
    name="model_fits",
    columns=(
        FIT_ID,
        C("model", "VARCHAR", "model or baseline name (majority, persistence, logistic_baseline, ...)"),
        C("role", "VARCHAR", "model | baseline"),
        C("fold", "BIGINT", "0-based fold; -1 = every test window pooled"),
        C("train_start", "TIMESTAMP", "first train bar", nullable=True),
        C("train_end", "TIMESTAMP", "last train bar", nullable=True),
        C("test_start", "TIMESTAMP", "first test bar"),
        C("test_end", "TIMESTAMP", "last test bar"),
        C("n_train", "BIGINT", "labelled train bars", nullable=True),
        C("n_test", "BIGINT", "labelled test bars"),
        _metric("auc", "ROC AUC (binary; macro one-vs-rest for more classes); NULL when the test window holds one class"),
        _metric("log_loss", "mean negative log-likelihood of the true class (nats)"),
        _metric("brier", "Brier score: mean (p - y)^2 for two classes, mean sum over classes otherwise"),
        _metric("accuracy", "share of bars whose most probable class is the true one"),
        _metric("ece", "expected calibration error over 10 equal-width probability bins"),
        C("calibration", "JSON", "reliability table: bin, mean predicted probability, observed frequency, count", nullable=True),
        C("feature_importances", "JSON", "per feature (gain for LightGBM, impurity for forests, |standardised coef| for logistic)", nullable=True),
        C("symbol", "VARCHAR", "ticker or CSV name"),
        TIMEFRAME,
        C("label", "VARCHAR", "direction | vol_bucket | regime"),
        C("horizon", "BIGINT", "label horizon, bars"),
        C("seed", "BIGINT", "model seed"),
        C("data_hash", "VARCHAR", "16 hex digits of SHA-256 of the bars"),
        C("config", "JSON", "the model's own settings"),
        C("model_hash", "VARCHAR", "16 hex digits of SHA-256 of the persisted model file (fold -1 of a model)", nullable=True),
        C("model_path", "VARCHAR", "the persisted model under var/models/ (fold -1 of a model)", nullable=True),
        C("created_at", "TIMESTAMP", "when the fit finished (UTC)"),
    ),
    key=("fit_id", "model", "fold"),
    partition_column=None,
    doc="Every fit of the model lab: each model and each of the three baselines (majority class, persistence, logistic regression on the same features) per walk-forward fold and pooled, with OOS AUC, log-loss, Brier, accuracy and calibration.",
)

MODEL_GATES = Table(
    schema="research",
    name="model_gates",
    columns=(
        FIT_ID,
        C("gate", "VARCHAR", "shuffled_labels | future_shift | truncation"),
        C("model", "VARCHAR", "the model the gate ran on"),
        _metric("value", "shuffled_labels: OOS AUC with shuffled train labels; future_shift: AUC with features shifted one bar ahead; truncation: largest prediction change"),
        _metric("reference", "what the value is compared with (0.5; the honest AUC; 0)"),
        _metric("tolerance", "allowed distance from the reference"),
        C("passed", "BOOLEAN", "whether the gate passed"),
        C("detail", "VARCHAR", "the gate's result in words"),
    ),
    key=("fit_id", "gate"),
    partition_column=None,
    doc="The leakage gates of each model-lab fit: shuffled labels give AUC near 0.5, features shifted into the future raise AUC, bars after a fold's end change nothing inside it.",
)

MODEL_SIGNALS = Table(
    schema="research",
    name="model_signals",
    columns=(
        FIT_ID,
        C("model", "VARCHAR", "model or baseline name"),
        TRADE_DATE,
        TS,
        C("fold", "BIGINT", "the walk-forward fold whose test window holds the bar"),
        C("probs", "JSON", "predicted class probabilities, in class order"),
        C("label", "BIGINT", "the true class (NULL for the last horizon bars)", nullable=True),
        C("signal", "DOUBLE", "the prediction mapped to [-1, +1] (docs/models.md)"),
    ),
    key=("fit_id", "model", "ts"),
    partition_column=None,
    doc="Out-of-sample predictions of every model and baseline of a fit, per bar, and the signal they become.",
)

HMM_FITS = Table(
    schema="research",
    name="hmm_fits",
    columns=(
        C("hmm_id", "VARCHAR", "16 hex digits of SHA-256 of the HMM config and the data hash"),
        C("created_at", "TIMESTAMP", "when the fit finished (UTC)"),
        C("symbol", "VARCHAR", "ticker or CSV name"),
        TIMEFRAME,
        C("data_hash", "VARCHAR", "16 hex digits of SHA-256 of the bars"),
        C("k", "BIGINT", "number of states chosen by BIC on the first train window"),
        C("bic", "JSON", "BIC per k tried (2..5)"),
        C("folds", "JSON", "walk-forward windows (bar indices)"),
        _metric("smoothed_disagreement", "share of OOS bars where the smoothed posterior's state differs from the filtered one"),
        C("separation", "JSON", "per model (hmm, mft): eta-squared of forward return and forward volatility across states, and the per-state table"),
        C("config", "JSON", "the HMM config"),
    ),
    key=("hmm_id",),
    partition_column=None,
    doc="Hidden-Markov regime fits: BIC choice of k, the smoothed-vs-filtered disagreement and the comparison with the MFT regimes by forward-return and forward-volatility separation.",
)

HMM_STATES = Table(
    schema="research",
    name="hmm_states",
    columns=(
        C("hmm_id", "VARCHAR", "research.hmm_fits id"),
        C("symbol", "VARCHAR", "ticker or CSV name"),
        TIMEFRAME,
        TRADE_DATE,
        TS,
        C("fold", "BIGINT", "the walk-forward fold whose test window holds the bar"),
        C("state", "BIGINT", "most probable state, 0 = calmest (states ordered by volatility)"),
        C("probs", "JSON", "filtered (causal) state probabilities, calmest first"),
        C("mft_regime", "VARCHAR", "the rule-based MFT regime of the bar", nullable=True),
    ),
    key=("hmm_id", "ts"),
    partition_column=None,
    doc="Per-bar filtered (forward-algorithm) HMM state probabilities out of sample, next to the MFT regime.",
)

RL_RUNS = Table(
    schema="research",
    name="rl_runs",
    columns=(
        C("rl_id", "VARCHAR", "16 hex digits of SHA-256 of the RL config and the data hash"),
        C("created_at", "TIMESTAMP", "when the report finished (UTC)"),
        C("symbol", "VARCHAR", "ticker or CSV name"),
        TIMEFRAME,
        C("agent", "VARCHAR", "ppo | buy_and_hold | random | phibot_blend"),
        C("setting", "VARCHAR", "the agent's setting (timesteps, observation) or the baseline"),
        C("seed", "BIGINT", "seed (NULL for deterministic baselines)", nullable=True),
        C("fold", "BIGINT", "walk-forward fold"),
        C("test_start", "TIMESTAMP", "first test bar"),
        C("test_end", "TIMESTAMP", "last test bar"),
        _metric("sharpe", "annualised Sharpe of the test window's per-bar returns"),
        _metric("sharpe_per_period", "per-period Sharpe (the DSR's trial Sharpe)"),
        _metric("total_return", "compounded return over the test window"),
        C("n_trades", "BIGINT", "position changes in the test window"),
        C("data_hash", "VARCHAR", "16 hex digits of SHA-256 of the bars"),
        C("config", "JSON", "the RL config"),
    ),
    key=("rl_id", "agent", "setting", "seed", "fold"),
    partition_column=None,
    doc="The RL report: every seed x walk-forward window of the PPO agent and the buy-and-hold, random and phibot-blend baselines under the same costs.",
)

REVIEWER_PROPOSALS = Table(
    schema="research",
    name="reviewer_proposals",
    columns=(
        C("review_id", "VARCHAR", "16 hex digits of SHA-256 of the reviewed RunConfig, folds and data hash"),
        C("created_at", "TIMESTAMP", "when the review finished (UTC)"),
        C("symbol", "VARCHAR", "ticker or CSV name"),
        C("proposal", "VARCHAR", "short name of the proposal ('base' for the reviewed config)"),
        C("reason", "VARCHAR", "the diagnostic that prompted it"),
        C("run_config", "JSON", "the proposed RunConfig"),
        _metric("oos_sharpe", "annualised Sharpe over the walk-forward test windows"),
        _metric("dsr", "DSR of the proposal's OOS returns given every proposal"),
        _metric("pbo", "PBO (CSCV) of base + proposals"),
        C("accepted", "BOOLEAN", "kept: DSR above the base's and PBO <= 0.5"),
        C("decision", "VARCHAR", "why it was kept or rejected"),
    ),
    key=("review_id", "proposal"),
    partition_column=None,
    doc="Phi-Bot reviewer: each proposal made after a backtest, run out of sample, and whether it was kept.",
)

LLM_DECISIONS = Table(
    schema="research",
    name="llm_decisions",
    columns=(
        C("llm_run_id", "VARCHAR", "16 hex digits of SHA-256 of the Plutus config and the data hash"),
        C("model", "VARCHAR", "the LLM's name on the server"),
        TRADE_DATE,
        TS,
        C("prompt", "VARCHAR", "the prompt sent for this bar"),
        C("response", "VARCHAR", "the raw message content the server returned"),
        C("action", "VARCHAR", "long | short | flat, as parsed (flat when unparseable)"),
        _metric("confidence", "the model's stated confidence, 0..1"),
        _metric("signal", "the signal after the confidence gate, in [-1, +1]"),
        C("error", "VARCHAR", "why the response could not be used", nullable=True),
    ),
    key=("llm_run_id", "ts"),
    partition_column=None,
    doc="Plutus (LLM) strategy: the prompt and response of every bar after the cut-off date, and the signal they became.",
)

TABLES: tuple[Table, ...] = (
    INDICATOR_SIGNALS,
    REGIMES,
    BLENDS,
    BACKTEST_RUNS,
    BACKTEST_TRADES,
    BACKTEST_EQUITY,
    BACKTEST_LEGS,
    TUNING_STUDIES,
    TUNING_TRIALS,
    TUNED_PARAMETERS,
    MODEL_STUDIES,
    MODEL_FITS,
    MODEL_GATES,
    MODEL_SIGNALS,
    HMM_FITS,
    HMM_STATES,
    RL_RUNS,
    REVIEWER_PROPOSALS,
    LLM_DECISIONS,
)
