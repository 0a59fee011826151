"""The one home of every estimator parameter: frozen configs checked in ``__post_init__``.

``Forecaster``, ``AnomalyDetector``, walk-forward runs, pipeline specs and the CLI options are
all derived from the dataclasses here: a parameter is declared once (name, default, help,
check), and every surface reads it from that declaration. Importing this module is cheap (no
torch, pandas or numpy); checks that need the registry or the feature parser import them when
a config is built.

- :class:`TrainConfig`: the training loop (epochs, optimiser, early stopping, teacher forcing).
- :class:`ForecastConfig`: what a forecaster sees and predicts (model, window, network, split).
- :class:`AnomalyConfig`: what an autoencoder reconstructs and how its threshold is set.
- :class:`LobConfig`: what an order-book model sees and predicts (book levels, sampling, labels).
- :class:`LobAnomalyConfig`: order-book anomaly detection (features, autoencoder, scores).
- :class:`WalkForwardConfig`, :class:`StrategyConfig`, :class:`CostsConfig`: how a walk-forward
  run lays out folds, turns forecasts into positions, and charges for trading.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from qseq.errors import ConfigError, DataError

LOSSES = ("mse", "huber", "qlike")
SCORE_COMBINE = ("max", "mean", "calibrated")  # anomaly scores over features
TRAIN_WINDOWS = ("expanding", "rolling")
REFITS = ("full", "warm")
TEST_PERIODS = ("year", "quarter", "month")
RULES = ("sign", "threshold", "vol_scaled")
STRATEGY_KINDS = ("single", "cross_sectional")
SCHEDULES = ("cosine", "plateau", "none")
FINAL_FITS = ("best", "all")
CLASS_WEIGHTS = ("balanced", "none")
TF_SCHEDULES = ("inverse_sigmoid", "linear", "exponential", "always", "never")
DEFAULT_FEATURES = ("log_return", "log_volume_change")
# price, volume and volatility: daily log return, log volume change, volume z-score (20 bars)
# and 5-bar Parkinson volatility (short, so a burst or a flat line shows within days).
ANOMALY_FEATURES = ("log_return", "log_volume_change", "volume_zscore", "parkinson_vol_5")


def param(default: Any, help: str, *, cli: str | None = None, choices: Callable[[], Sequence[str]]
          | None = None, hidden: bool = False) -> Any:
    """A config field: its default, the help text every surface shows, the CLI flag (default
    ``--field-name``) and, for string fields, a function listing the valid values."""
    meta = {"help": help, "cli": cli, "choices": choices, "hidden": hidden}
    if callable(default) or isinstance(default, (list, dict, set)):  # a class or factory
        factory = default if callable(default) else (lambda d=default: d)
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


# -- shared checks ---------------------------------------------------------------------------
def _positive_int(name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _fraction(name: str, value: Any, low: float = 0.0, high: float = 1.0) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value < high:
        raise ConfigError(f"{name} must be a number in [{low}, {high}), got {value!r}")


def check_choice(name: str, value: Any, valid: Sequence[str]) -> None:
    """A ConfigError naming ``value``, a close match and the ``valid`` values, unless valid."""
    if value not in valid:
        import difflib

        close = difflib.get_close_matches(str(value), list(valid), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown {name} {value!r}{hint}; choose one of {list(valid)}")


_choice = check_choice


def normalize_horizons(value: int | Sequence[int] | str) -> tuple[int, ...]:
    """Horizons as a sorted tuple of distinct positive ints: ``5`` means ``(1, 2, 3, 4, 5)``;
    a list (or ``"1,5,22"``) is taken as given."""
    if isinstance(value, str):
        try:
            parts = [int(p) for p in value.split(",") if p.strip()]
        except ValueError:
            raise ConfigError(f"horizons must be N or a comma list like 1,5,22; got {value!r}") from None
        value = parts[0] if len(parts) == 1 else parts
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ConfigError(f"horizon must be >= 1, got {value}")
        return tuple(range(1, value + 1))
    try:
        hs = tuple(sorted({int(h) for h in value}))
    except (TypeError, ValueError):
        raise ConfigError(f"horizons must be an int or a list of ints, got {value!r}") from None
    if not hs or hs[0] < 1:
        raise ConfigError(f"horizons must be positive integers, got {value!r}")
    return hs


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value)


def _check_features(features: tuple[str, ...]) -> None:
    from qseq.data.features import parse_feature

    if not features:
        raise ConfigError("features must not be empty")
    for name in features:
        parse_feature(name)
    if len(set(features)) != len(features):
        raise ConfigError(f"features listed twice: {list(features)}")


def _check_quantiles(quantiles: tuple[float, ...]) -> None:
    if quantiles and (any(not 0 < q < 1 for q in quantiles) or list(quantiles) != sorted(set(quantiles))):
        raise ConfigError(f"quantiles must be distinct, increasing and in (0, 1), got {list(quantiles)}")


def _check_network(cfg: Any) -> None:
    _positive_int("hidden_size", cfg.hidden_size)
    _positive_int("num_layers", cfg.num_layers)
    _positive_int("ticker_dim", cfg.ticker_dim)
    _fraction("dropout", cfg.dropout)
    _positive_int("seed", cfg.seed, minimum=0)


def _models(kind: str) -> Callable[[], list[str]]:
    def names() -> list[str]:
        from qseq.models import list_models

        return list_models(kind)

    return names


def _targets() -> Sequence[str]:
    from qseq.constants import TARGETS

    return TARGETS


def _future_features() -> Sequence[str]:
    from qseq.data.calendar_features import FUTURE_FEATURES

    return FUTURE_FEATURES


def _proxies() -> Sequence[str]:
    from qseq.constants import PROXIES

    return PROXIES


def _threshold_methods() -> Sequence[str]:
    from qseq.constants import THRESHOLD_METHODS

    return THRESHOLD_METHODS


# -- training --------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    """The training loop: AdamW with gradient clipping, an LR schedule and early stopping."""

    epochs: int = param(20, "Training epochs (early stopping may end sooner).")
    batch_size: int = param(256, "Windows per optimiser step.")
    lr: float = param(1e-3, "AdamW learning rate.")
    weight_decay: float = param(1e-4, "AdamW weight decay.")
    clip_grad_norm: float = param(1.0, "Gradient-norm clip (0: none).")
    loss: str = param("mse", "Point-forecast loss (quantile models use the pinball loss; "
                      "qlike: the variance target's QLIKE plus qlike_mse times the squared "
                      "error of its scaled log).", choices=lambda: LOSSES)
    huber_delta: float = param(1.0, "Huber loss delta (scaled target units).", hidden=True)
    qlike_mse: float = param(2.0, "loss=qlike: weight of the squared error of the scaled log "
                             "variance added to QLIKE.", hidden=True)
    lr_schedule: str = param("cosine", "Learning-rate schedule.", choices=lambda: SCHEDULES)
    patience: int = param(5, "Epochs without validation improvement before stopping.")
    min_delta: float = param(0.0, "Smallest validation-loss gain that counts.", hidden=True)
    teacher_forcing: str = param("inverse_sigmoid", "Scheduled-sampling decay for seq2seq "
                                 "decoders.", choices=lambda: TF_SCHEDULES)
    teacher_forcing_k: float | None = param(None, "Decay constant of the teacher-forcing "
                                            "schedule (default per schedule).", hidden=True)
    final_fit: str = param("best", "After early stopping: keep the best model (best), or refit "
                           "on training + validation windows for the best epoch count of each "
                           "member (all).", choices=lambda: FINAL_FITS)
    class_weights: str = param("balanced", "Classifiers: weight each class by its inverse "
                               "training frequency (balanced) or not (none).",
                               choices=lambda: CLASS_WEIGHTS)
    horizon_weights: tuple[float, ...] = param((), "Weight of each horizon in the training and "
                                               "early-stopping loss, e.g. 1,0.3,0.3 (default: "
                                               "equal).")

    def __post_init__(self) -> None:
        try:
            weights = tuple(float(w) for w in _strings(self.horizon_weights))
        except (TypeError, ValueError):
            raise ConfigError(f"horizon_weights must be numbers like 1,0.5,0.5; got "
                              f"{self.horizon_weights!r}") from None
        if weights and (min(weights) < 0 or not any(weights) or not all(map(math.isfinite, weights))):
            raise ConfigError(f"horizon_weights must be finite, >= 0 and not all 0; got {list(weights)}")
        object.__setattr__(self, "horizon_weights", weights)
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        if isinstance(self.lr, bool) or not (isinstance(self.lr, (int, float)) and self.lr > 0
                                             and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if self.weight_decay < 0 or self.clip_grad_norm < 0:
            raise ConfigError("weight_decay and clip_grad_norm must be >= 0")
        if isinstance(self.qlike_mse, bool) or not (isinstance(self.qlike_mse, (int, float))
                                                    and 0 <= self.qlike_mse < math.inf):
            raise ConfigError(f"qlike_mse must be a finite number >= 0, got {self.qlike_mse!r}")
        _choice("loss", self.loss, LOSSES)
        _choice("lr_schedule", self.lr_schedule, SCHEDULES)
        _choice("final_fit", self.final_fit, FINAL_FITS)
        _choice("class_weights", self.class_weights, CLASS_WEIGHTS)
        _positive_int("patience", self.patience)
        _choice("teacher_forcing schedule", self.teacher_forcing, TF_SCHEDULES)
        teacher_forcing_probability(self, 1)  # validates teacher_forcing_k


def teacher_forcing_probability(config: TrainConfig, epoch: int) -> float:
    """Probability of feeding the true previous value to a decoder in ``epoch`` (1-based).

    Scheduled sampling decays (Bengio et al., 2015), with i = epoch - 1:
    linear ``max(0, 1 - c i)`` (c defaults to 1/epochs), exponential ``k^i`` (k in (0, 1),
    default 0.85), inverse sigmoid ``k / (k + exp(i / k))`` (k >= 1, default 5).
    """
    i, k = epoch - 1, config.teacher_forcing_k
    kind = config.teacher_forcing
    if kind == "always":
        return 1.0
    if kind == "never":
        return 0.0
    if kind == "linear":
        c = 1.0 / config.epochs if k is None else k
        if c <= 0:
            raise ConfigError(f"linear teacher forcing needs a positive slope, got {c}")
        return max(0.0, 1.0 - c * i)
    if kind == "exponential":
        k = 0.85 if k is None else k
        if not 0 < k < 1:
            raise ConfigError(f"exponential teacher forcing needs 0 < k < 1, got {k}")
        return k**i
    k = 5.0 if k is None else k
    if k < 1:
        raise ConfigError(f"inverse-sigmoid teacher forcing needs k >= 1, got {k}")
    return k / (k + math.exp(i / k))


# -- forecasting -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ForecastConfig:
    """Everything a :class:`qseq.Forecaster` fit depends on besides the data.

    Window: ``lookback`` bars of ``features`` in, the ``target`` at each of ``horizons`` bars
    ahead out (``5`` means 1..5). Network: the registry ``model`` with ``hidden_size`` state,
    ``num_layers`` stacked layers, a ``ticker_dim`` embedding per ticker of a panel, and
    ``quantiles`` for bands. Split: the last ``test_frac`` and the ``val_frac`` before it (by
    date, purged by the longest horizon) are held out; early stopping watches validation.
    """

    model: str = param("gru", "Model from the registry (qseq models).", choices=_models("forecast"))
    lookback: int = param(64, "Input window in bars.")
    horizons: int | tuple[int, ...] = param((1, 2, 3, 4, 5), "Forecast horizons: N (1..N bars) or a "
                                      "comma list like 1,5,22.", cli="--horizon")
    features: tuple[str, ...] = param(DEFAULT_FEATURES, "Input features, comma-separated "
                                      "(log_return, log_volume_change, volume_zscore_N, "
                                      "parkinson_vol_N, garman_klass_vol_N).")
    target: str = param("log_return", "What is forecast (variance: the mean daily variance of "
                        "the next h bars, modelled in log space).", choices=_targets)
    proxy: str = param("parkinson", "Range variance proxy of the variance target.",
                       choices=_proxies)
    future_features: tuple[str, ...] = param((), "Known-future calendar inputs of the forecast "
                                             "dates for seq2seq decoders, comma-separated "
                                             "(day_of_week, month, gap_days, turn_of_month) or "
                                             "'all'.", choices=_future_features)
    exchange: str = param("XNYS", "Exchange calendar (ISO MIC, e.g. XNYS, XLON, XTKS) for "
                          "dating forecasts and calendar inputs.")
    hidden_size: int = param(64, "Recurrent state width.")
    num_layers: int = param(2, "Stacked recurrent layers.", cli="--layers")
    dropout: float = param(0.0, "Dropout between stacked layers.")
    ticker_dim: int = param(8, "Ticker-embedding width (panels of several tickers).")
    init_embeddings: str | None = param(None, "GloVe-format text file of ticker vectors (a "
                                        "ticker, then ticker_dim numbers, per line) that start "
                                        "the ticker embeddings (e.g. from qseq embed).")
    sentiment: str | None = param(None, "Daily news sentiment table (Parquet or CSV with date, "
                                  "ticker, sentiment, news_count; written by qseq text "
                                  "sentiment) read by the sentiment and news_count features.")
    quantiles: tuple[float, ...] = param((), "Quantile levels for bands, e.g. 0.1,0.5,0.9 "
                                         "(pinball loss).")
    val_frac: float = param(0.15, "Share of dates held out for early stopping.", hidden=True)
    test_frac: float = param(0.15, "Share of dates held out for the test metrics.", hidden=True)
    seed: int = param(0, "Random seed (same seed, same model).")
    highway: bool = param(False, "Recurrent family: add a linear map of the last bar's inputs "
                          "to the output (the network learns a correction to a linear model).")
    ensemble: int = param(1, "Members trained from seeds seed..seed+N-1; forecasts are their "
                          "mean (the recurrent family trains them as one batched model).")
    train: TrainConfig = param(TrainConfig, "Training loop settings.")

    def __post_init__(self) -> None:
        from qseq.models import get_spec, list_models
        from qseq.models.registry import RECURRENT

        set_ = object.__setattr__
        set_(self, "horizons", normalize_horizons(self.horizons))
        set_(self, "features", _strings(self.features))
        future = _strings(self.future_features)
        set_(self, "future_features", tuple(_future_features()) if future == ("all",) else future)
        try:
            set_(self, "quantiles", tuple(float(q) for q in _strings(self.quantiles)))
        except ValueError:
            raise ConfigError(f"quantiles must be numbers like 0.1,0.5,0.9; got {self.quantiles!r}") from None
        if isinstance(self.train, dict):
            set_(self, "train", TrainConfig(**self.train))
        spec = get_spec(self.model)
        _positive_int("lookback", self.lookback, minimum=2)
        _choice("target", self.target, _targets())
        _choice("proxy", self.proxy, _proxies())
        _check_features(self.features)
        from qseq.data.calendar_features import check_future_features

        check_future_features(self.future_features)
        if self.future_features and not spec.future_inputs:
            takes = sorted(n for n in list_models() if get_spec(n).future_inputs)
            raise ConfigError(f"model {self.model!r} has no decoder for known-future inputs "
                              f"(future_features); use one of {takes}")
        _check_quantiles(self.quantiles)
        _check_network(self)
        _positive_int("ensemble", self.ensemble)
        if self.highway and spec.model != RECURRENT:
            raise ConfigError(f"highway applies to the recurrent family (rnn, lstm, gru, their "
                              f"bidirectional variants, lstm_peephole), not {self.model!r}")
        if self.train.loss == "qlike" and (self.target != "variance" or self.quantiles):
            raise ConfigError("train.loss 'qlike' scores variance forecasts: use it with "
                              "target: variance and no quantiles (or pick loss mse or huber)")
        if self.train.horizon_weights and len(self.train.horizon_weights) != len(self.horizons):
            raise ConfigError(f"train.horizon_weights has {len(self.train.horizon_weights)} values "
                              f"for {len(self.horizons)} horizons {list(self.horizons)}; give one "
                              "per horizon")
        _fraction("val_frac", self.val_frac)
        _fraction("test_frac", self.test_frac)
        if self.val_frac + self.test_frac >= 1:
            raise ConfigError(f"val_frac={self.val_frac} and test_frac={self.test_frac} must sum to < 1")
        if not isinstance(self.exchange, str) or not self.exchange:
            raise ConfigError(f"exchange must be a calendar code like XNYS, got {self.exchange!r}")
        from qseq.data.features import NEWS_FEATURES, parse_feature

        if self.sentiment is not None and not any(parse_feature(n)[0] in NEWS_FEATURES
                                                  for n in self.features):
            raise ConfigError(f"sentiment={self.sentiment!r} is set but no feature reads it; add "
                              "sentiment (or sentiment_5, news_count) to --features")

    def replace(self, **changes: Any) -> ForecastConfig:
        """A copy with ``changes`` (validated like a new config; unknown names are errors)."""
        return dataclasses.replace(self, **check_names(type(self), changes))


# -- anomaly detection -----------------------------------------------------------------------
@dataclass(frozen=True)
class AnomalyConfig:
    """Everything an :class:`qseq.AnomalyDetector` fit depends on besides the data.

    The normal period (window end dates up to ``train_end``; default the first half) is split
    chronologically into training, validation (``val_frac``) and calibration (``calib_frac``)
    windows; the threshold is set on calibration scores for a false-alarm rate ``target_far``
    (``pot``: peaks over threshold with a generalised Pareto tail, or the empirical ``quantile``).
    A bar's score is its reconstruction error as the last bar of its window, per feature over
    the ticker's training mean and over the mean of its previous ``score_window`` errors, then
    combined over features by ``score_combine`` (see :mod:`qseq.anomaly.scores`).
    """

    model: str = param("masked_lstm_ae", "Autoencoder from the registry (qseq models).",
                       choices=_models("autoencoder"))
    lookback: int = param(32, "Window length in bars.")
    features: tuple[str, ...] = param(ANOMALY_FEATURES, "Reconstructed features, comma-separated.")
    train_end: str | None = param(None, "Last date of the normal period (YYYY-MM-DD; default: the "
                                  "first half of the dates).")
    threshold: str = param("pot", "Threshold method.", choices=_threshold_methods)
    target_far: float = param(0.01, "Target false-alarm rate per bar.")
    score_window: int = param(60, "Bars of past reconstruction errors whose mean scales each "
                              "feature's error (causal; 0: the training scale only).")
    score_combine: str = param("calibrated", "How the per-feature contributions make a bar's "
                               "score: their max, mean, or max after dividing each by its 99th "
                               "percentile on the calibration bars (calibrated).",
                               choices=lambda: SCORE_COMBINE)
    hidden_size: int = param(32, "Recurrent state width.")
    num_layers: int = param(1, "Stacked recurrent layers.", cli="--layers")
    dropout: float = param(0.0, "Dropout between stacked layers.")
    ticker_dim: int = param(4, "Ticker-embedding width (panels of several tickers).")
    init_embeddings: str | None = param(None, "GloVe-format text file of ticker vectors (a "
                                        "ticker, then ticker_dim numbers, per line) that start "
                                        "the ticker embeddings (e.g. from qseq embed).")
    last_bar_weight: float = param(32.0, "Weight of each window's last bar (the scored one) in "
                                   "the reconstruction loss; every other bar weighs 1.")
    ensemble: int = param(1, "Seed ensemble: autoencoders trained from seeds seed..seed+N-1, "
                          "bars scored with their mean reconstruction (1: one model).")
    val_frac: float = param(0.1, "Share of the normal period for early stopping.", hidden=True)
    calib_frac: float = param(0.2, "Share of the normal period for threshold calibration.",
                              hidden=True)
    seed: int = param(0, "Random seed (same seed, same model).")
    train: TrainConfig = param(lambda: TrainConfig(epochs=10, lr=2e-3), "Training loop settings.")

    def __post_init__(self) -> None:
        from qseq.models import get_spec

        object.__setattr__(self, "features", _strings(self.features))
        if isinstance(self.train, dict):
            object.__setattr__(self, "train", TrainConfig(**self.train))
        get_spec(self.model, kind="autoencoder")
        _positive_int("lookback", self.lookback, minimum=2)
        _check_features(self.features)
        if self.train_end is not None:
            import pandas as pd

            try:
                object.__setattr__(self, "train_end", str(pd.Timestamp(self.train_end).date()))
            except (ValueError, TypeError):
                raise ConfigError(f"bad train_end date {self.train_end!r}; use YYYY-MM-DD") from None
        if not (0 <= self.val_frac < 1 and 0 < self.calib_frac < 1
                and self.val_frac + self.calib_frac < 0.9):
            raise ConfigError(f"val_frac={self.val_frac} and calib_frac={self.calib_frac} must "
                              "leave at least 10% of the normal period for training")
        from qseq.anomaly.thresholds import check_far

        _choice("threshold method", self.threshold, _threshold_methods())
        check_far(self.target_far)
        _positive_int("score_window", self.score_window, minimum=0)
        _positive_int("ensemble", self.ensemble)
        _choice("score combination", self.score_combine, SCORE_COMBINE)
        if isinstance(self.last_bar_weight, bool) or not (
                isinstance(self.last_bar_weight, (int, float)) and self.last_bar_weight > 0
                and math.isfinite(self.last_bar_weight)):
            raise ConfigError(f"last_bar_weight must be a positive number, got "
                              f"{self.last_bar_weight!r}")
        _check_network(self)

    def replace(self, **changes: Any) -> AnomalyConfig:
        return dataclasses.replace(self, **check_names(type(self), changes))


# -- order books ----------------------------------------------------------------------------
def _order_book_models() -> Sequence[str]:
    from qseq.models import order_book_models

    return order_book_models()


def _lob_features() -> Sequence[str]:
    from qseq.lob.features import FEATURES

    return FEATURES


LOB_TARGETS = ("direction", "return")
LOB_REFERENCES = ("current", "past")
LOB_PRICES = ("relative", "raw")
LOB_DEFAULT_FEATURES = ("spread_bps", "microprice_bps", "imbalance", "ofi", "log_return")


@dataclass(frozen=True)
class LobConfig:
    """Everything an order-book model fit (:class:`qseq.lob.LobForecaster`) depends on besides
    the book.

    Samples: the book after every event (``sampling="event"``) or on a clock (``100ms``,
    ``1s``). Inputs: ``lookback`` samples of the best ``levels`` levels (4 columns each: ask
    price, ask size, bid price, bid size; prices in bps from the mid, or raw dollars) plus the
    derived ``features``. Targets at each ``horizons`` k samples ahead: the smoothed mid-price
    direction (down / stationary / up, threshold ``alpha``; ``auto`` balances the training
    labels) or the mid log return. Split: the last ``test_frac`` and the ``val_frac`` before it,
    purged by ``purge`` rows (0: lookback + max k).
    """

    model: str = param("deeplob", "Model from the registry (every forecaster takes order "
                       "books; deeplob only them).", choices=_order_book_models)
    levels: int = param(10, "Book levels per side used as inputs (4 columns each).")
    sampling: str = param("event", "Samples: every event (event) or a clock interval such as "
                          "100ms or 1s.")
    lookback: int = param(100, "Input window in samples.")
    horizons: int | tuple[int, ...] = param((10, 20, 50), "Label horizons k in samples, a comma "
                                            "list like 10,20,50.", cli="--k")
    target: str = param("direction", "Smoothed mid-price direction (3 classes) or the mid "
                        "log return.", choices=lambda: LOB_TARGETS)
    alpha: str = param("auto", "Direction threshold on the relative mid change (a number), or "
                       "auto: a third of training labels stationary.")
    reference: str = param("current", "Direction label reference: the current mid (current) or "
                           "the mean of the last k mids (past).", choices=lambda: LOB_REFERENCES)
    features: tuple[str, ...] = param(LOB_DEFAULT_FEATURES, "Derived inputs beside the book, "
                                      "comma-separated (spread, spread_bps, microprice, "
                                      "microprice_bps, mid, depth, imbalance, depth_imbalance, "
                                      "ofi, mlofi, log_return).")
    prices: str = param("relative", "Level prices as bps from the mid (relative) or dollars "
                        "(raw).", choices=lambda: LOB_PRICES)
    hidden_size: int = param(32, "Recurrent state width.")
    num_layers: int = param(1, "Stacked recurrent layers.", cli="--layers")
    dropout: float = param(0.0, "Dropout between stacked layers.")
    ticker_dim: int = param(4, "Ticker-embedding width (unused with one instrument).", hidden=True)
    val_frac: float = param(0.2, "Share of samples held out for early stopping.", hidden=True)
    test_frac: float = param(0.2, "Share of samples held out for the test metrics.", hidden=True)
    purge: int = param(0, "Rows dropped between segments (0: lookback + max k).", hidden=True)
    seed: int = param(0, "Random seed (same seed, same model).")
    ensemble: int = param(1, "Members trained from seeds seed..seed+N-1 (mean logits).")
    train_stride: int = param(1, "Fit the model on every n-th training window (consecutive "
                              "windows share lookback - 1 samples); validation, test and the "
                              "baselines keep every window.")
    train: TrainConfig = param(lambda: TrainConfig(epochs=10, batch_size=256, lr=1e-3, patience=3),
                               "Training loop settings.")

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "horizons", normalize_horizons(self.horizons))
        set_(self, "features", _strings(self.features))
        if isinstance(self.train, dict):
            set_(self, "train", TrainConfig(**self.train))
        _choice("order-book model", self.model, _order_book_models())
        _positive_int("levels", self.levels)
        _positive_int("lookback", self.lookback, minimum=2)
        _positive_int("purge", self.purge, minimum=0)
        _choice("order-book target", self.target, LOB_TARGETS)
        _choice("label reference", self.reference, LOB_REFERENCES)
        _choice("prices", self.prices, LOB_PRICES)
        for name in self.features:
            _choice("order-book feature", name, _lob_features())
        if len(set(self.features)) != len(self.features):
            raise ConfigError(f"features listed twice: {list(self.features)}")
        from qseq.lob.features import sampling_interval

        sampling_interval(self.sampling)  # rejects a bad interval with the valid forms
        alpha = str(self.alpha).strip()
        if alpha != "auto":
            try:
                value = float(alpha)
            except ValueError:
                raise ConfigError(f"alpha must be a number like 0.0002 or auto, got {self.alpha!r}") from None
            if not (value >= 0 and math.isfinite(value)):
                raise ConfigError(f"alpha must be >= 0, got {value}")
            alpha = str(value)
        set_(self, "alpha", alpha)
        if not (0 <= self.val_frac < 1 and 0 < self.test_frac < 1 and self.val_frac + self.test_frac < 0.9):
            raise ConfigError(f"val_frac={self.val_frac} and test_frac={self.test_frac} must leave "
                              "at least 10% of the samples for training")
        _check_network(self)
        _positive_int("ensemble", self.ensemble)
        _positive_int("train_stride", self.train_stride)
        if self.train.horizon_weights and len(self.train.horizon_weights) != len(self.horizons):
            raise ConfigError(f"horizon_weights has {len(self.train.horizon_weights)} weights for "
                              f"{len(self.horizons)} horizons {list(self.horizons)}")

    @property
    def alpha_value(self) -> float | str:
        """``alpha`` as :func:`qseq.lob.windows.lob_windows` takes it: a float or "auto"."""
        return self.alpha if self.alpha == "auto" else float(self.alpha)

    def replace(self, **changes: Any) -> LobConfig:
        return dataclasses.replace(self, **check_names(type(self), changes))


# message-rate features of order-book anomaly detection (qseq.lob.anomaly_data)
LOB_MESSAGE_FEATURES = ("submissions", "cancellations", "executions", "cancel_ratio",
                        "short_cancel_volume", "flash_cancels", "max_submit_size",
                        "far_submit_volume", "far_cancel_volume", "far_depth_change")
# order placement, not trading: spread, OFI and executions jump with every trade and drown the
# placement signals in a max over features (see bench/README.md)
LOB_ANOMALY_FEATURES = ("imbalance", *(f for f in LOB_MESSAGE_FEATURES if f != "executions"))
LOB_SCORE_COMBINE = SCORE_COMBINE
LOB_SCORE_ON = ("messages", "all")  # which inputs' scores make a sample's score
LOB_ANOMALY_KINDS = ("spoofing", "stuffing")  # injected episodes (qseq.lob.synthetic)


@dataclass(frozen=True)
class LobAnomalyConfig:
    """What an order-book anomaly evaluation depends on besides the stream and the injections.

    Samples every ``sampling`` (a clock: ``100ms``, ``1s``); inputs are the LOBSTER tensor of
    the best ``levels`` levels (prices in bps from the mid) plus ``features`` (book features of
    :mod:`qseq.lob.features` and :data:`MESSAGE_FEATURES`). The first ``train_frac`` of the
    samples is the clean training period, the next ``val_frac`` early stopping and threshold
    calibration, the rest the test period where episodes are injected. Every method's score
    reads the ``score_on`` columns (by default the message-rate features).
    """

    model: str = param("masked_lstm_ae", "Autoencoder from the registry (qseq models).",
                       choices=_models("autoencoder"))
    levels: int = param(10, "Book levels per side used as inputs (4 columns each).")
    sampling: str = param("100ms", "Clock interval of the samples (100ms, 1s, ...).")
    lookback: int = param(50, "Window length in samples (50 x 100 ms: 5 s).")
    features: tuple[str, ...] = param(LOB_ANOMALY_FEATURES, "Book and message-rate features beside "
                                      "the LOBSTER columns, comma-separated.")
    level_prices: bool = param(False, "Also feed the level prices (bps from the mid) beside the "
                               "level sizes.")
    hidden_size: int = param(32, "Recurrent state width (and PCA components).")
    num_layers: int = param(1, "Stacked recurrent layers.", cli="--layers")
    last_bar_weight: float = param(8.0, "Weight of each window's last sample (the scored one) in "
                                   "the reconstruction loss.")
    mask_steps: int = param(1, "Masked autoencoders: trailing samples masked, so a sample is "
                            "predicted from the window up to this many samples before it (1: "
                            "from the sample just before it; 30 x 100 ms keeps an episode "
                            "shorter than 3 s out of its own context).")
    score_window: int = param(600, "Samples of past errors whose mean scales each feature's "
                              "error (causal; 0: the training scale only).")
    score_combine: str = param("calibrated", "How per-feature scores make a sample's score: "
                               "the max of each over its validation 99% quantile (calibrated), "
                               "the plain max, or the mean.", choices=lambda: LOB_SCORE_COMBINE)
    score_on: str = param("messages", "Which inputs are scored: the message-rate features "
                          "(messages; the level sizes and imbalances are only the context they "
                          "are predicted from) or every input (all). Every method scores the "
                          "same ones.", choices=lambda: LOB_SCORE_ON)
    zscore_window: int = param(600, "Trailing samples of the rolling z-score baseline.")
    target_far: float = param(0.01, "False-alarm rate the thresholds are set for (validation "
                              "samples).")
    short_life: float = param(5.0, "Seconds: a cancellation of an order younger than this is "
                              "short-lived.", hidden=True)
    flash_life: float = param(0.1, "Seconds: a cancellation of an order younger than this is a "
                              "flash.", hidden=True)
    far_level: int = param(2, "Orders behind this many better levels are far from the touch.",
                           hidden=True)
    train_frac: float = param(0.5, "Share of samples in the clean training period.", hidden=True)
    val_frac: float = param(0.1, "Share of samples for early stopping and thresholds.",
                            hidden=True)
    seed: int = param(0, "Model seed (the injection seeds are separate).")
    train: TrainConfig = param(lambda: TrainConfig(epochs=10, lr=2e-3, patience=3),
                               "Training loop settings.")

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", _strings(self.features))
        if isinstance(self.train, dict):
            object.__setattr__(self, "train", TrainConfig(**self.train))
        check_choice("autoencoder", self.model, _models("autoencoder")())
        check_choice("score combination", self.score_combine, LOB_SCORE_COMBINE)
        check_choice("score_on", self.score_on, LOB_SCORE_ON)
        for name in self.features:
            check_choice("order-book anomaly feature", name, (*_lob_features(), *LOB_MESSAGE_FEATURES))
        if self.score_on == "messages" and not set(self.features) & set(LOB_MESSAGE_FEATURES):
            raise ConfigError(f"score_on 'messages' needs a message-rate feature among features "
                              f"({', '.join(LOB_MESSAGE_FEATURES)}); add one or use score_on "
                              "'all'")
        if len(set(self.features)) != len(self.features):
            raise ConfigError(f"features listed twice: {list(self.features)}")
        from qseq.lob.features import sampling_interval

        if sampling_interval(self.sampling) is None:
            raise ConfigError("anomaly samples need a clock interval such as 100ms or 1s, not "
                              "'event' (message rates are counted per interval)")
        _positive_int("levels", self.levels)
        _positive_int("lookback", self.lookback, minimum=2)
        _positive_int("hidden_size", self.hidden_size)
        _positive_int("num_layers", self.num_layers)
        _positive_int("far_level", self.far_level)
        _positive_int("score_window", self.score_window, minimum=0)
        _positive_int("zscore_window", self.zscore_window, minimum=2)
        _positive_int("seed", self.seed, minimum=0)
        _positive_int("mask_steps", self.mask_steps)
        if self.mask_steps >= self.lookback:
            raise ConfigError(f"mask_steps {self.mask_steps} must be below the lookback "
                              f"({self.lookback}) so that each window keeps unmasked samples")
        if self.mask_steps > 1:
            from qseq.models import get_spec

            if not get_spec(self.model, "autoencoder").options.get("mask_last"):
                raise ConfigError(f"mask_steps {self.mask_steps} needs a masked autoencoder "
                                  f"(masked_lstm_ae, masked_gru_ae), not {self.model}; use "
                                  "mask_steps 1 with it")
        if not (0 < self.train_frac < 1 and 0 < self.val_frac < 1
                and self.train_frac + self.val_frac < 0.9):
            raise ConfigError(f"train_frac={self.train_frac} and val_frac={self.val_frac} must be "
                              "shares leaving at least 10% of the samples for the test period")
        if not (self.last_bar_weight > 0 and self.short_life > 0 and self.flash_life > 0):
            raise ConfigError("last_bar_weight, short_life and flash_life must be > 0")
        from qseq.anomaly.thresholds import check_far

        check_far(self.target_far)


# -- walk-forward and backtests --------------------------------------------------------------
@dataclass(frozen=True)
class WalkForwardConfig:
    """How folds are laid out and refit.

    train_window: ``expanding`` (all bars since the start) or ``rolling`` (the last
                  ``train_bars`` bars)
    train_bars:   bars of training history before the first test block (and the rolling size)
    test_bars:    bars per test block; the model is refit every ``test_bars`` bars
    test_period:  ``year``, ``quarter`` or ``month``: test blocks are calendar periods instead
                  (refits on each period's first trading day; ``test_bars`` is then unused)
    refit:        ``full`` (a fresh model per fold) or ``warm`` (fine-tune the previous fold's
                  weights for ``warm_epochs``)
    warm_bars:    with ``warm``, fine-tune on the windows of the last ``warm_bars`` training bars
                  only (None: the whole training window); scalers still see every training row
    purge:        bars between the last training anchor and the test block (None: max horizon)
    embargo:      extra bars dropped between training targets and the test block
    val_frac:     share of the training dates held out (after a purge gap) for early stopping
    max_folds:    keep only the last ``max_folds`` folds (None: all)
    first_test:   first test date (None: right after the initial ``train_bars``)
    score_tickers: the tickers forecast and scored; the panel's other tickers only add
                  training windows to the one panel model (empty: every ticker is scored)
    """

    train_window: str = param("expanding", "Training window: expanding (all bars so far) or "
                              "rolling (the last train-bars).", choices=lambda: TRAIN_WINDOWS)
    train_bars: int = param(756, "Bars of training history before the first test block (and "
                            "the rolling size).")
    test_bars: int = param(21, "Bars per test block; the model is refit every test-bars bars.")
    test_period: str | None = param(None, "Calendar test blocks (year, quarter or month): refit "
                                    "at each period's first bar instead of every test-bars "
                                    "bars.", choices=lambda: TEST_PERIODS)
    refit: str = param("full", "full (a fresh model per fold) or warm (fine-tune the previous "
                       "fold's weights).", choices=lambda: REFITS)
    warm_epochs: int = param(3, "Epochs of each warm-start fine-tune.")
    warm_bars: int | None = param(None, "Warm start: fine-tune on the last N training bars only.")
    purge: int | None = param(None, "Bars between the last training anchor and the test block "
                              "(default: the longest horizon).")
    embargo: int = param(0, "Extra bars dropped between training targets and the test block.")
    val_frac: float = param(0.1, "Share of each fold's training dates held out for early "
                            "stopping.", hidden=True)
    max_folds: int | None = param(None, "Only the last N folds.")
    first_test: str | None = param(None, "First test date (YYYY-MM-DD).")
    score_tickers: tuple[str, ...] = param((), "Tickers to forecast and score, comma-separated; "
                                           "the others only train the panel model (default: "
                                           "all).")

    def __post_init__(self) -> None:
        tickers = _strings(self.score_tickers)
        if tickers:
            from qseq.data.schema import normalize_ticker  # pandas: only when tickers are named

            try:
                tickers = tuple(normalize_ticker(t) for t in tickers)
            except DataError as exc:
                raise ConfigError(f"walk_forward.score_tickers: {exc}") from None
        object.__setattr__(self, "score_tickers", tickers)
        if self.train_window not in TRAIN_WINDOWS:
            raise ConfigError(f"train_window must be one of {list(TRAIN_WINDOWS)}, "
                              f"got {self.train_window!r}")
        if self.refit not in REFITS:
            raise ConfigError(f"refit must be one of {list(REFITS)}, got {self.refit!r}")
        if self.test_period is not None:
            _choice("walk_forward.test_period", self.test_period, TEST_PERIODS)
        if self.first_test is not None and hasattr(self.first_test, "isoformat"):
            object.__setattr__(self, "first_test", self.first_test.isoformat())
        for name in ("train_bars", "test_bars", "warm_epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"walk_forward.{name} must be a positive integer, got {value!r}")
        if self.warm_bars is not None and (not isinstance(self.warm_bars, int) or self.warm_bars < 1):
            raise ConfigError(f"walk_forward.warm_bars must be a positive integer, got {self.warm_bars!r}")
        if self.purge is not None and (not isinstance(self.purge, int) or self.purge < 0):
            raise ConfigError(f"walk_forward.purge must be an integer >= 0, got {self.purge!r}")
        if not isinstance(self.embargo, int) or self.embargo < 0:
            raise ConfigError(f"walk_forward.embargo must be an integer >= 0, got {self.embargo!r}")
        if not 0 <= self.val_frac < 0.5:
            raise ConfigError(f"walk_forward.val_frac must be in [0, 0.5), got {self.val_frac}")
        if self.max_folds is not None and (not isinstance(self.max_folds, int) or self.max_folds < 1):
            raise ConfigError(f"walk_forward.max_folds must be a positive integer, got {self.max_folds!r}")


@dataclass(frozen=True)
class StrategyConfig:
    """How forecasts become positions (acting on the next bar).

    kind: ``single`` (one position per ticker from its own forecast; a panel holds an equal
    share per ticker) or ``cross_sectional`` (rank tickers each day: long the top k, short the
    bottom k, or long-only). rule (single): ``sign``, ``threshold`` (|forecast| > threshold) or
    ``vol_scaled`` (forecast / trailing vol over ``vol_window`` bars x scale), capped at ``cap``.
    signal_horizon: which forecast horizon is the signal (``sum``: the sum over horizons).
    """

    kind: str = param("single", "single (a position per ticker) or cross_sectional (rank "
                      "tickers each day).", choices=lambda: STRATEGY_KINDS)
    rule: str = param("sign", "Position rule for single: sign, threshold or vol_scaled.",
                      choices=lambda: RULES)
    threshold: float = param(0.0, "Smallest |forecast| that opens a position (threshold rule).")
    scale: float = param(1.0, "Position per unit of forecast / trailing vol (vol_scaled rule).")
    cap: float = param(1.0, "Largest absolute position.")
    long_only: bool = param(False, "No short positions.")
    k: int = param(5, "Tickers held long (and short) by the cross-sectional strategy.")
    vol_window: int = param(20, "Bars of trailing volatility (vol_scaled rule).")
    signal_horizon: int | str = param(1, "Forecast horizon used as the signal, or 'sum'.")

    def __post_init__(self) -> None:
        if self.kind not in STRATEGY_KINDS:
            raise ConfigError(f"strategy.kind must be one of {list(STRATEGY_KINDS)}, got {self.kind!r}")
        if self.rule not in RULES:
            raise ConfigError(f"strategy.rule must be one of {list(RULES)}, got {self.rule!r}")
        if self.cap <= 0 or self.threshold < 0 or self.k < 1 or self.vol_window < 2:
            raise ConfigError("strategy: cap must be > 0, threshold >= 0, k >= 1, vol_window >= 2")
        if self.signal_horizon != "sum" and not (isinstance(self.signal_horizon, int)
                                                 and self.signal_horizon >= 1):
            raise ConfigError("strategy.signal_horizon must be a horizon or 'sum', "
                              f"got {self.signal_horizon!r}")


@dataclass(frozen=True)
class CostsConfig:
    """Trading costs in basis points of turnover, plus slippage (also bps of turnover)."""

    bps: float = param(1.0, "Cost in basis points of turnover.")
    slippage_bps: float = param(0.0, "Slippage in basis points of turnover.")

    def __post_init__(self) -> None:
        if self.bps < 0 or self.slippage_bps < 0:
            raise ConfigError("costs.bps and costs.slippage_bps must be >= 0")


# -- helpers for the surfaces ----------------------------------------------------------------
def check_names(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` if every key is a field of ``cls``; else a ConfigError naming the unknown key
    with a close match."""
    import difflib

    names = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known: {names}"
            raise ConfigError(f"unknown {cls.__name__} parameter {key!r}{hint}")
    return values


def build(cls: type, config: Any = None, **values: Any) -> Any:
    """``config`` (an instance of ``cls``, or None for the defaults) with ``values`` replaced."""
    if config is not None and not isinstance(config, cls):
        raise ConfigError(f"config must be a {cls.__name__}, got {type(config).__name__}")
    check_names(cls, values)
    return cls(**values) if config is None else dataclasses.replace(config, **values)


def fields_of(cls: type) -> Iterator[tuple[dataclasses.Field, Any]]:
    """(field, resolved type hint) for every field of config ``cls``."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        yield f, hints[f.name]


def to_dict(config: Any) -> dict[str, Any]:
    """Plain JSON-able data of a config (tuples as lists)."""
    return json_ready(dataclasses.asdict(config))


def json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Rebuild config ``cls`` from :func:`to_dict` data (nested TrainConfig included)."""
    check_names(cls, data)
    values = dict(data)
    for f, hint in fields_of(cls):
        if f.name in values and dataclasses.is_dataclass(hint) and isinstance(values[f.name], dict):
            values[f.name] = from_dict(hint, values[f.name])
    return cls(**values)


# -- embeddings and token models (qseq.text) -------------------------------------------------
ORDERS = ("return", "residual")
RETURNS = ("close", "intraday", "overnight")
MARKETS = ("equal", "beta")
EMBED_METHODS = ("glove", "skipgram", "cbow")
# Per-method defaults of ticker2vec (window in tickers, epochs, learning rate), tuned on the
# bundled panel's first 60% of days (5-NN sector purity, 3 seeds: GloVe 0.71, skip-gram 0.65,
# CBOW 0.54; CBOW diverges at lr 0.025 with window 10 and does worse with wider windows).
METHOD_DEFAULTS: dict[str, dict[str, float]] = {
    "glove": {"window": 100, "epochs": 50, "lr": 0.05},
    "skipgram": {"window": 100, "epochs": 3, "lr": 0.025},
    "cbow": {"window": 5, "epochs": 10, "lr": 0.02},
}


@dataclass(frozen=True)
class SentenceConfig:
    """How a price panel becomes market sentences for ticker2vec
    (:func:`qseq.text.ticker2vec.market_sentences`). The defaults are the variant that scored
    best on the bundled panel (``bench/ticker2vec_eval.py --part ablation``): three return
    kinds, horizons 1, 2, 3, raw returns, vol-scaled.

    Subtracting an equal-weight market shifts the whole day, so ``order="residual"`` with
    ``market="equal"`` changes the order only through ``scale`` (the residual's standard
    deviation instead of the return's).
    """

    first_frac: float = param(0.6, "Training range: the first share of the panel's dates "
                              "(ignored when --train-end is given).")
    train_end: str | None = param(None, "Last training date (YYYY-MM-DD, inclusive); nothing "
                                  "later is read.")
    order: str = param("return", "Sort each day's tickers by their return, or by the residual "
                       "after the market.", choices=lambda: ORDERS)
    returns: tuple[str, ...] = param(RETURNS, "Daily log returns that make sentences, each its "
                                     "own ordering of the day: close (close to close), intraday "
                                     "(open to close), overnight (close to open).")
    market: str = param("equal", "Market of the residual order: the day's equal-weight mean, or "
                        "beta x that mean (beta fitted per ticker on the training days).",
                        choices=lambda: MARKETS)
    scale: bool = param(True, "Divide each ticker's return by its training standard deviation "
                        "before sorting.")
    horizons: tuple[int, ...] = param((1, 2, 3), "Return horizons in days; each adds one "
                                      "sentence per day from the sum of the last h returns.",
                                      cli="--sentence-horizons")
    chunk: int | None = param(None, "Split each day's ordering into sentences of this many "
                              "tickers (default: one sentence per day and horizon).", hidden=True)
    min_coverage: float = param(0.8, "Keep tickers with a return on at least this share of the "
                                "training days.", hidden=True)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "returns", _strings(self.returns))
        horizons = self.horizons
        try:
            set_(self, "horizons", tuple(int(h) for h in _strings(horizons)) if isinstance(
                horizons, str) else tuple(int(h) for h in horizons))
        except (TypeError, ValueError):
            raise ConfigError(f"sentence horizons must be whole day counts like 1,2,3, got "
                              f"{horizons!r}") from None
        if not 0.0 < self.first_frac <= 1.0:
            raise ConfigError(f"first_frac must be in (0, 1], got {self.first_frac}")
        _choice("order", self.order, ORDERS)
        if not self.returns:
            raise ConfigError(f"returns must name at least one of {list(RETURNS)}")
        for kind in self.returns:
            _choice("return kind", kind, RETURNS)
        _choice("market", self.market, MARKETS)
        if not self.horizons or any(h < 1 for h in self.horizons):
            raise ConfigError(f"horizons must be positive day counts, got {self.horizons}")
        if self.chunk is not None and self.chunk < 2:
            raise ConfigError(f"chunk must be at least 2 tickers or None, got {self.chunk}")
        if not 0.0 <= self.min_coverage <= 1.0:
            raise ConfigError(f"min_coverage must be in [0, 1], got {self.min_coverage}")


@dataclass(frozen=True)
class EmbedConfig:
    """ticker2vec: how ticker vectors are trained from market sentences
    (:func:`qseq.text.ticker2vec.ticker2vec`, ``qseq embed tickers``). ``window``, ``epochs``
    and ``lr`` default to the method's row of :data:`METHOD_DEFAULTS`."""

    method: str = param("glove", "Trainer: glove (weighted least squares on co-occurrences), "
                        "skipgram or cbow (word2vec with negative sampling).",
                        choices=lambda: EMBED_METHODS)
    dim: int = param(32, "Vector length.")
    window: int | None = param(None, "Context half-width in tickers (default: the method's "
                               "tuned value).")
    epochs: int | None = param(None, "Passes over the sentences (default: the method's tuned "
                               "value).")
    lr: float | None = param(None, "Learning rate (default: the method's tuned value).")
    negative: int = param(5, "word2vec: negative samples per positive pair.")
    subsample: float = param(0.0, "word2vec: frequent-token subsampling threshold (0: off; every "
                             "ticker is equally frequent).", hidden=True)
    batch_size: int = param(8192, "word2vec: examples per optimiser step.", hidden=True)
    seed: int = param(0, "Random seed (same seed, same vectors).")
    sentences: SentenceConfig = param(SentenceConfig, "How the panel becomes sentences.")

    def __post_init__(self) -> None:
        if isinstance(self.sentences, dict):
            object.__setattr__(self, "sentences", SentenceConfig(**self.sentences))
        _choice("embedding method", self.method, EMBED_METHODS)
        _positive_int("dim", self.dim)
        for name in ("window", "epochs"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        _positive_int("negative", self.negative)
        _positive_int("batch_size", self.batch_size)
        _positive_int("seed", self.seed, minimum=0)
        if not 0 <= self.subsample < 1:
            raise ConfigError(f"subsample must be in [0, 1), got {self.subsample}")

    def replace(self, **changes: Any) -> EmbedConfig:
        return dataclasses.replace(self, **check_names(type(self), changes))


SCENARIO_MODELS = ("rnn", "ngram", "s2s")
SCENARIO_SCALES = ("ewma", "none")


@dataclass(frozen=True)
class ScenarioConfig:
    """Token language models over daily returns that sample scenario paths
    (:mod:`qseq.text.scenario_model`, ``qseq text scenarios``): a quantile tokenizer fit on the
    training days, a model of the next token, paths drawn with a temperature, and (for s2s)
    beam search for the most likely paths."""

    model: str = param("rnn", "Token model: rnn (GRU language model), ngram (Bengio neural "
                       "n-gram) or s2s (seq2seq with additive attention; beam search).",
                       choices=lambda: SCENARIO_MODELS)
    scale: str = param("ewma", "Tokens of EWMA-standardised returns, paths rescaled by the "
                       "EWMA volatility (ewma), or of raw returns (none).",
                       choices=lambda: SCENARIO_SCALES)
    lam: float = param(0.94, "EWMA decay of the volatility scale (RiskMetrics 0.94).")
    n_bins: int = param(256, "Quantile bins of the tokenizer (64-512), fit on training days "
                        "(narrow tail bins keep the multi-day intervals calibrated).")
    lookback: int = param(64, "Context in days before each forecast origin.")
    horizon: int = param(5, "Days per scenario path.")
    order: int = param(11, "n-gram order n (the model reads the last n-1 tokens).")
    embed_dim: int = param(16, "Token embedding width.")
    hidden_size: int = param(64, "Hidden width.")
    dropout: float = param(0.1, "Dropout.")
    epochs: int = param(40, "Most training epochs (early stopping on the validation days picks "
                        "the count, then a refit on all training days).")
    lr: float = param(2e-3, "AdamW learning rate.")
    smoothing: float = param(1.0, "Width in bins of the Gaussian kernel that spreads each "
                             "target over neighbouring bins (0: one-hot).")
    val_frac: float = param(0.15, "Share of the training days used to pick the epoch count.")
    train_end: str | None = param(None, "Last training day (YYYY-MM-DD; default: the last day "
                                  "minus the test share).")
    test_frac: float = param(0.3, "Without --train-end: share of the days held out for the "
                             "evaluation.", hidden=True)
    paths: int = param(1000, "Scenario paths per forecast origin.")
    temperature: float = param(1.0, "Sampling temperature (0: greedy).")
    beam_width: int = param(5, "s2s: beams kept by beam search.")
    length_alpha: float = param(0.0, "s2s: beam length-normalisation exponent (GNMT alpha).",
                                hidden=True)
    seed: int = param(0, "Random seed (same seed, same model and paths).")

    def __post_init__(self) -> None:
        _choice("scenario model", self.model, SCENARIO_MODELS)
        _choice("scale", self.scale, SCENARIO_SCALES)
        _fraction("lam", self.lam)
        _positive_int("n_bins", self.n_bins, minimum=2)
        for name in ("lookback", "horizon", "embed_dim", "hidden_size", "epochs", "paths",
                     "beam_width"):
            _positive_int(name, getattr(self, name))
        _positive_int("order", self.order, minimum=2)
        _fraction("dropout", self.dropout)
        _fraction("val_frac", self.val_frac)
        _fraction("test_frac", self.test_frac)
        _positive_int("seed", self.seed, minimum=0)
        for name in ("lr", "smoothing", "temperature"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    value >= 0 and math.isfinite(value)) or (name == "lr" and value == 0):
                raise ConfigError(f"{name} must be a {'positive' if name == 'lr' else '>= 0'} "
                                  f"number, got {value!r}")

    def replace(self, **changes: Any) -> ScenarioConfig:
        return dataclasses.replace(self, **check_names(type(self), changes))


POOLINGS = ("mean", "last")


@dataclass(frozen=True)
class SentimentConfig:
    """The headline classifier of :mod:`qseq.text.sentiment` and its training (``qseq text
    train-sentiment``)."""

    embed_dim: int = param(50, "Word vector length (must equal the GloVe file's with --vectors).")
    hidden_size: int = param(32, "GRU state width.")
    num_layers: int = param(1, "Stacked GRU layers.", cli="--layers")
    bidirectional: bool = param(True, "Read headlines in both directions.")
    pooling: str = param("mean", "Headline vector: mean of the GRU outputs over the words, or the "
                         "final states (last).", choices=lambda: POOLINGS)
    dropout: float = param(0.1, "Dropout on the embeddings, between layers and before the output.")
    min_count: int = param(1, "Words seen fewer times in training are unknown.")
    max_len: int = param(64, "Words kept per headline.", hidden=True)
    epochs: int = param(15, "Training epochs.")
    batch_size: int = param(32, "Headlines per optimiser step.")
    lr: float = param(5e-3, "AdamW learning rate.")
    weight_decay: float = param(0.0, "AdamW weight decay.", hidden=True)
    freeze_embeddings: bool = param(False, "Keep the (pretrained) embedding rows fixed.")
    seed: int = param(0, "Random seed (same seed, same data: same model on CPU).")

    def __post_init__(self) -> None:
        for name in ("embed_dim", "hidden_size", "num_layers", "min_count", "max_len", "epochs",
                     "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {list(POOLINGS)}, got {self.pooling!r}")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not isinstance(self.lr, (int, float)) or not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if not isinstance(self.weight_decay, (int, float)) or not self.weight_decay >= 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        for name in ("bidirectional", "freeze_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")


CHAR_CELLS = ("gru", "lstm")


@dataclass(frozen=True)
class CharRNNConfig:
    """The character-level name classifier and generator of :mod:`qseq.text.chars` (``qseq text
    classify-names`` / ``generate-names``). ``balanced`` trains for balanced accuracy by logit
    adjustment (Menon et al. 2021: the training loss sees ``logits + log prior``, predictions the
    plain logits). Early stopping watches the validation loss when a validation set is given."""

    embed_dim: int = param(32, "Character vector length.")
    hidden_size: int = param(128, "Recurrent state width.")
    num_layers: int = param(1, "Stacked recurrent layers.", cli="--layers")
    cell: str = param("gru", "Recurrent cell.", choices=lambda: CHAR_CELLS)
    bidirectional: bool = param(False, "Read names in both directions (classifier only).")
    dropout: float = param(0.2, "Dropout on the embeddings, between layers and before the output.")
    label_dim: int = param(16, "Width of the class embedding of a conditioned generator.",
                           hidden=True)
    balanced: bool = param(False, "Train the classifier for balanced accuracy (logit adjustment).")
    epochs: int = param(40, "Training epochs (at most).")
    batch_size: int = param(32, "Names per optimiser step.")
    lr: float = param(3e-3, "AdamW learning rate.")
    weight_decay: float = param(1e-4, "AdamW weight decay.", hidden=True)
    clip_grad_norm: float = param(1.0, "Gradient-norm clip.", hidden=True)
    patience: int = param(8, "Epochs without a better validation loss before stopping.")
    seed: int = param(0, "Random seed for weights, batches and dropout.")

    def __post_init__(self) -> None:
        for name in ("embed_dim", "hidden_size", "num_layers", "label_dim", "epochs",
                     "batch_size", "patience"):
            _positive_int(name, getattr(self, name))
        check_choice("cell", self.cell, CHAR_CELLS)
        _fraction("dropout", self.dropout)
        for name in ("bidirectional", "balanced"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not (
                math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        for name in ("weight_decay", "clip_grad_norm"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ConfigError(f"{name} must be a number >= 0, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")

    def train_config(self) -> Any:
        """The training part, as :func:`qseq.text.lm.fit_token_model` takes it."""
        from qseq.text.lm import TokenTrainConfig

        return TokenTrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                                weight_decay=self.weight_decay, clip_grad_norm=self.clip_grad_norm,
                                patience=self.patience, seed=self.seed)
