"""Scenario paths from a token language model of one series' daily returns: fit, sample, beam
search and score against the historical bootstrap (``qseq text scenarios``).

    import qseq
    from qseq.config import ScenarioConfig
    from qseq.text.scenario_model import fit_scenarios

    panel = qseq.load_prices("SPY", offline=True)
    sm = fit_scenarios(panel, ScenarioConfig(model="rnn", train_end="2010-12-31"))
    paths = sm.paths()                 # [1, paths, H] log-return paths after the last day
    best = sm.beam()                   # the most likely token paths (beam search)
    report = sm.evaluate()             # CRPS / pinball / coverage vs bootstrap and FHS, DM

Leakage: the tokenizer, the EWMA scale's starting variance and the model see days up to
``train_end`` only; every forecast origin's context is the ``lookback`` days up to and
including it. Early stopping on the last ``val_frac`` of the training days picks the epoch
count, then the model is refit on all training days for that many epochs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from torch import nn

from qseq.config import ScenarioConfig
from qseq.errors import DataError
from qseq.text.beam import Seq2SeqConfig, TokenSeq2Seq, beam_search, seq2seq_examples
from qseq.text.lm import (
    RNNLM,
    NGramConfig,
    NGramLM,
    RNNLMConfig,
    TokenTrainConfig,
    chunk_examples,
    fit_token_model,
    ngram_examples,
    perplexity,
    scenario_returns,
)
from qseq.text.scenarios import (
    LEVELS,
    ForecastScores,
    bootstrap_paths,
    dm_table,
    realized_horizon_returns,
    score_samples,
    summary_table,
)
from qseq.text.tokens import EwmaScale, ReturnTokenizer

log = logging.getLogger(__name__)
__all__ = ["ScenarioModel", "ScenarioEvaluation", "daily_returns", "fit_scenarios", "fit_on_tokens",
           "token_examples", "build_token_model", "cumulative_quantiles"]


def daily_returns(panel: pd.DataFrame) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Dates [L] and daily log returns [L] (the first bar dropped) of a one-ticker panel."""
    tickers = panel.index.get_level_values("ticker").unique()
    if len(tickers) != 1:
        raise DataError(f"scenario models read one series; the panel has {len(tickers)} tickers "
                        f"({list(tickers[:5])}...): pick one with --ticker")
    close = panel["close"].droplevel("ticker").astype(np.float64)
    r = np.log(close).diff().to_numpy()[1:]
    if not np.isfinite(r).all():
        raise DataError("the close series has missing or non-positive prices; repair it "
                        "(--nan-policy ffill) before fitting a token model")
    return pd.DatetimeIndex(close.index[1:]), r


def token_examples(kind: str, tokens: np.ndarray, config: ScenarioConfig, *, stride: int = 4
                   ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """(inputs, targets) of a token sequence [L] for model ``kind`` (see :data:`SCENARIO_MODELS`):
    n-gram contexts [N, n-1] -> next token [N]; RNN chunks [N, lookback] shifted by one;
    s2s (context [N, lookback], decoder input [N, H]) -> targets [N, H]."""
    if kind == "ngram":
        x, y = ngram_examples(tokens, config.order)
        return (x,), y
    if kind == "rnn":
        x, y = chunk_examples(tokens, config.lookback, stride=stride)
        return (x,), y
    return seq2seq_examples(tokens, config.lookback, config.horizon)


def build_token_model(config: ScenarioConfig, vocab_size: int) -> nn.Module:
    """A fresh (seeded) token model of ``config.model`` over ``vocab_size`` ids."""
    common = dict(embed_dim=config.embed_dim, hidden_size=config.hidden_size,
                  dropout=config.dropout)
    if config.model == "ngram":
        return NGramLM(NGramConfig(vocab_size, order=config.order, **common), seed=config.seed)
    if config.model == "rnn":
        return RNNLM(RNNLMConfig(vocab_size, cell="gru", **common), seed=config.seed)
    return TokenSeq2Seq(Seq2SeqConfig(vocab_size, score="additive", **common), seed=config.seed)


def cumulative_quantiles(paths: np.ndarray, levels: tuple[float, ...] = LEVELS) -> np.ndarray:
    """Quantiles [N, H, Q] of the cumulative log return to each horizon of paths [N, M, H]."""
    return np.quantile(np.cumsum(paths, axis=2), levels, axis=1).transpose(1, 2, 0)


@dataclass
class ScenarioEvaluation:
    """Scores of the test origins: ``table`` (model x horizon: CRPS, pinball, coverage90,
    pit_ks, n), ``dm`` (each model's CRPS vs the bootstrap's: diff < 0 is better, DM p-value),
    and the origins' dates."""

    table: pd.DataFrame
    dm: pd.DataFrame
    origin_dates: pd.DatetimeIndex
    scores: dict[str, ForecastScores]


@dataclass
class ScenarioModel:
    """A fitted token model of one series (see :func:`fit_scenarios`).

    ``dates`` [L] and ``returns`` [L]: the whole series; ``n_train``: days up to ``train_end``;
    ``tokens`` [L]: the encoded (standardised, with ``scale``) returns; ``sigma`` [L + 1]: the
    EWMA volatility (``sigma[t]`` known before day t), or None without a scale."""

    config: ScenarioConfig
    model: nn.Module
    tokenizer: ReturnTokenizer
    scale: EwmaScale | None
    dates: pd.DatetimeIndex
    returns: np.ndarray
    tokens: np.ndarray
    sigma: np.ndarray | None
    n_train: int
    epochs: int
    val_perplexity: float

    @property
    def train_end(self) -> pd.Timestamp:
        return self.dates[self.n_train - 1]

    def _origins(self, origins: np.ndarray | None) -> np.ndarray:
        if origins is None:
            return np.array([len(self.returns) - 1])
        origins = np.asarray(origins, dtype=np.int64)
        lo = self.config.lookback - 1
        if origins.size and (origins.min() < lo or origins.max() >= len(self.returns)):
            raise DataError(f"origins must be day positions in [{lo}, {len(self.returns) - 1}] "
                            f"(each needs {self.config.lookback} days of context)")
        return origins

    def paths(self, origins: np.ndarray | None = None, n_paths: int | None = None,
              temperature: float | None = None) -> np.ndarray:
        """Sampled daily log-return paths [N, n_paths, H] after each origin (day positions;
        default: the last day only)."""
        cfg = self.config
        extra = dict(scale=self.scale, sigma=self.sigma) if self.scale is not None else {}
        return scenario_returns(
            self.model, self.tokenizer, self.tokens, self._origins(origins),
            lookback=cfg.lookback, horizon=cfg.horizon, n_paths=n_paths or cfg.paths,
            temperature=cfg.temperature if temperature is None else temperature,
            seed=cfg.seed, **extra)

    def beam(self, origins: np.ndarray | None = None, n_best: int = 3
             ) -> tuple[np.ndarray, np.ndarray]:
        """Beam search: the ``n_best`` most likely token paths after each origin, decoded to
        daily log returns [N, n_best, H] (bin medians; rescaled by the EWMA volatility with a
        scale), and their summed log-probabilities [N, n_best]."""
        cfg = self.config
        origins = self._origins(origins)
        ctx = torch.as_tensor(np.stack([self.tokens[o - cfg.lookback + 1:o + 1] for o in origins]))
        best = beam_search(self.model, ctx, cfg.horizon, beam_width=max(cfg.beam_width, n_best),
                           alpha=cfg.length_alpha, n_best=n_best,
                           banned=tuple(range(self.tokenizer.n_specials)))
        values = self.tokenizer.decode(best.tokens.numpy())  # [N, K, H]
        if self.scale is not None:
            values = self.scale.rescale_paths(values, self.sigma[origins + 1])
        return values, best.log_prob.numpy()

    def evaluate(self, n_paths: int | None = None) -> ScenarioEvaluation:
        """Score the model's paths at every test origin (a day after ``train_end`` with
        ``horizon`` days after it) against the realised returns, beside the historical
        bootstrap (iid training days) and filtered historical simulation (training days'
        EWMA-standardised returns, rescaled); DM test of each CRPS against the bootstrap's."""
        cfg = self.config
        m = n_paths or cfg.paths
        origins = np.arange(max(self.n_train - 1, cfg.lookback - 1), len(self.returns) - cfg.horizon)
        if origins.size < 20:
            raise DataError(f"only {origins.size} test origins after {self.train_end.date()}; "
                            "set an earlier --train-end for an evaluation")
        y = realized_horizon_returns(self.returns, origins, cfg.horizon)
        scores = {cfg.model: score_samples(self.paths(origins, m), y)}
        train = self.returns[:self.n_train]
        scores["bootstrap"] = score_samples(
            bootstrap_paths(train, len(origins), m, cfg.horizon, seed=cfg.seed), y)
        ewma = self.scale or EwmaScale(cfg.lam).fit(train)
        z, sigma = ewma.standardize(self.returns)
        z_paths = bootstrap_paths(z[:self.n_train], len(origins), m, cfg.horizon, seed=cfg.seed)
        scores["fhs"] = score_samples(ewma.rescale_paths(z_paths, sigma[origins + 1]), y)
        return ScenarioEvaluation(summary_table(scores), dm_table(scores, "bootstrap"),
                                  self.dates[origins], scores)


def _train_days(dates: pd.DatetimeIndex, config: ScenarioConfig) -> int:
    if config.train_end is None:
        n = int(round(len(dates) * (1 - config.test_frac)))
    else:
        try:
            end = pd.Timestamp(config.train_end)
        except ValueError:
            raise DataError(f"train_end {config.train_end!r} is not a date; use YYYY-MM-DD") from None
        n = int((dates <= end).sum())
    need = 4 * (config.lookback + config.horizon)
    if n < need:
        raise DataError(f"{n} training days up to {config.train_end or 'the split'}; a token "
                        f"model with lookback {config.lookback} needs at least {need}: load "
                        "more history or set a later --train-end")
    return n


def fit_scenarios(panel: pd.DataFrame, config: ScenarioConfig = ScenarioConfig()
                  ) -> ScenarioModel:
    """Fit the tokenizer (and EWMA scale) on the training days, pick the epoch count by early
    stopping on the last ``val_frac`` of them, refit on all training days, and return the
    :class:`ScenarioModel`. ``panel``: one ticker's daily bars (``close`` is read)."""
    from qseq.runtime import configure_torch_threads

    configure_torch_threads()
    dates, r = daily_returns(panel)
    n_train = _train_days(dates, config)
    scale = sigma = None
    series = r
    if config.scale == "ewma":
        scale = EwmaScale(config.lam).fit(r[:n_train])
        series, sigma = scale.standardize(r)
    tokenizer = ReturnTokenizer(config.n_bins).fit(series[:n_train])
    tokens = tokenizer.encode(series)
    model, epochs, ppl = fit_on_tokens(tokens, n_train, tokenizer, config)
    log.info("%s token model: %d epochs, validation perplexity %.1f", config.model, epochs, ppl)
    return ScenarioModel(config, model, tokenizer, scale, dates, r, tokens, sigma, n_train,
                         epochs, ppl)


def fit_on_tokens(tokens: np.ndarray, n_train: int, tokenizer: ReturnTokenizer,
                  config: ScenarioConfig) -> tuple[nn.Module, int, float]:
    """Fit a ``config.model`` token model on ``tokens[:n_train]``: early stopping on the last
    ``val_frac`` of those days (validation targets are validation days only, earlier days serve
    as context) picks the epoch count, then a fresh model is fit on all ``n_train`` days for
    that many epochs. Returns (model, epochs, validation perplexity)."""
    kind = config.model
    n_fit = int(round(n_train * (1 - config.val_frac)))
    train_cfg = TokenTrainConfig(epochs=config.epochs, batch_size=128, lr=config.lr, patience=5,
                                 smoothing=config.smoothing, seed=config.seed)
    warmup = {"ngram": config.order - 1, "rnn": 0, "s2s": config.lookback}[kind]  # context only
    x, y = token_examples(kind, tokens[:n_fit], config)
    xv, yv = token_examples(kind, tokens[n_fit - warmup:n_train], config, stride=config.lookback)
    if len(yv) == 0:
        raise DataError(f"the validation days ({n_train - n_fit}) are too few for lookback "
                        f"{config.lookback}; raise --val-frac or load more history")
    model = build_token_model(config, tokenizer.vocab_size)
    result = fit_token_model(model, x, y, train_cfg, val=(xv, yv), first_bin=tokenizer.n_specials)
    ppl = perplexity(model, xv, yv)
    model = build_token_model(config, tokenizer.vocab_size)
    x, y = token_examples(kind, tokens[:n_train], config)
    fit_token_model(model, x, y, replace(train_cfg, epochs=result.best_epoch),
                    first_bin=tokenizer.n_specials)
    return model, result.best_epoch, ppl
