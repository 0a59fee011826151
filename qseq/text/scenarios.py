"""Probabilistic evaluation of scenario paths, and the historical-bootstrap baseline.

Scenario paths are daily log returns ``paths [N, M, H]``: N forecast origins, M sampled paths,
H days. The h-day return of a path is the sum of its first h daily log returns
(:func:`horizon_returns`); it is scored against the realised ``ln(close_{t+h} / close_t)``.

Scores per origin and horizon (lower is better unless said):

- CRPS, sample estimator ``E|X - y| - 0.5 E|X - X'|`` over the M draws, all M^2 pairs
  (the ``crps_ensemble`` of properscoring); :func:`crps_normal` is the closed form for
  ``N(mu, sigma^2)``;
- pinball loss of the empirical ``tau``-quantile: ``max(tau (y - q), (tau - 1)(y - q))``;
- PIT ``F(y)`` (the share of draws below y, ties counted half) and its calibration: a
  histogram and the Kolmogorov-Smirnov distance to the uniform;
- coverage of the central 90% interval [q0.05, q0.95].

Losses are in log-return units (0.01 = 1%).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from qseq.errors import ConfigError, DataError

__all__ = ["LEVELS", "horizon_returns", "realized_horizon_returns", "crps_samples",
           "crps_normal", "pinball_loss", "sample_quantiles", "pit_values", "calibration",
           "coverage", "ForecastScores", "score_samples", "score_quantiles", "summary_table",
           "dm_table", "bootstrap_paths"]

LEVELS = (0.05, 0.1, 0.5, 0.9, 0.95)


def _check_levels(levels: tuple[float, ...]) -> tuple[float, ...]:
    levels = tuple(float(q) for q in levels)
    if not levels or any(not 0 < q < 1 for q in levels):
        raise ConfigError(f"quantile levels must lie in (0, 1), got {list(levels)}")
    return levels


# -- targets ------------------------------------------------------------------------------------
def horizon_returns(paths: np.ndarray) -> np.ndarray:
    """h-day log returns of daily paths [..., H]: the cumulative sum along the last axis."""
    return np.cumsum(np.asarray(paths, dtype=np.float64), axis=-1)


def realized_horizon_returns(returns: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Realised h-day log returns [N, H] after each origin: ``sum(returns[o+1 : o+h+1])``;
    ``returns`` [L] daily log returns, ``origins`` [N] positions of the last known day.
    NaN where the future runs past the data."""
    r = np.asarray(returns, dtype=np.float64)
    csum = np.concatenate([[0.0], np.cumsum(r)])  # csum[i] = sum(r[:i])
    o = np.asarray(origins, dtype=np.int64)[:, None]
    ends = o + 1 + np.arange(1, horizon + 1)[None, :]  # exclusive end
    out = np.full(ends.shape, np.nan)
    ok = ends <= len(r)
    out[ok] = csum[ends[ok]] - csum[np.broadcast_to(o + 1, ends.shape)[ok]]
    return out


# -- scores -------------------------------------------------------------------------------------
def crps_samples(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    """CRPS of the empirical distribution of ``samples`` [..., M] at ``y`` [...]:
    ``mean|x_i - y| - 0.5 mean_{i,j}|x_i - x_j|``. O(M log M) per row via the sorted draws:
    ``mean_{i,j}|x_i - x_j| = 2 / M^2 sum_i (2i - M - 1) x_(i)`` (i = 1..M). A single draw gives
    the absolute error."""
    x = np.sort(np.asarray(samples, dtype=np.float64), axis=-1)
    y = np.asarray(y, dtype=np.float64)
    m = x.shape[-1]
    if m == 0:
        raise DataError("crps_samples needs at least one sample per forecast")
    first = np.abs(x - y[..., None]).mean(-1)
    weights = 2.0 * np.arange(1, m + 1) - m - 1
    spread = 2.0 * (x * weights).sum(-1) / m**2
    return first - 0.5 * spread


def crps_normal(mu: np.ndarray, sigma: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Closed-form CRPS of ``N(mu, sigma^2)`` at ``y`` (Gneiting & Raftery 2007):
    ``sigma (z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi))``, ``z = (y - mu) / sigma``."""
    from scipy import stats

    mu, sigma, y = (np.asarray(a, dtype=np.float64) for a in (mu, sigma, y))
    z = (y - mu) / sigma
    return sigma * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / math.sqrt(math.pi))


def pinball_loss(q: np.ndarray, y: np.ndarray, level: float) -> np.ndarray:
    """Pinball (quantile) loss of the ``level`` quantile forecast ``q`` at ``y`` (elementwise)."""
    diff = np.asarray(y, dtype=np.float64) - np.asarray(q, dtype=np.float64)
    return np.maximum(level * diff, (level - 1) * diff)


def sample_quantiles(samples: np.ndarray, levels: tuple[float, ...] = LEVELS) -> np.ndarray:
    """Empirical quantiles [..., Q] of ``samples`` [..., M] (linear interpolation)."""
    q = np.quantile(np.asarray(samples, dtype=np.float64), _check_levels(levels), axis=-1)
    return np.moveaxis(q, 0, -1)


def pit_values(samples: np.ndarray, y: np.ndarray) -> np.ndarray:
    """PIT of ``y`` [...] under the draws [..., M]: ``(#{x < y} + 0.5 #{x == y}) / M``."""
    x = np.asarray(samples, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)[..., None]
    return ((x < y).sum(-1) + 0.5 * (x == y).sum(-1)) / x.shape[-1]


def calibration(pit: np.ndarray, bins: int = 10) -> dict[str, object]:
    """Calibration summary of PIT values (NaN dropped): ``hist`` [bins] shares per equal bin of
    [0, 1] (1/bins each when calibrated), ``ks`` the Kolmogorov-Smirnov distance
    ``sup_u |F_PIT(u) - u|`` to the uniform, ``n``."""
    p = np.sort(np.asarray(pit, dtype=np.float64).ravel())
    p = p[np.isfinite(p)]
    n = p.size
    if n == 0:
        return {"hist": np.full(bins, np.nan), "ks": float("nan"), "n": 0}
    hist = np.histogram(p, bins=bins, range=(0.0, 1.0))[0] / n
    i = np.arange(1, n + 1)
    ks = float(max(np.max(i / n - p), np.max(p - (i - 1) / n)))
    return {"hist": hist, "ks": ks, "n": n}


def coverage(lower: np.ndarray, upper: np.ndarray, y: np.ndarray) -> float:
    """Share of finite ``y`` inside ``[lower, upper]``."""
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(y)
    inside = (np.asarray(lower)[ok] <= y[ok]) & (y[ok] <= np.asarray(upper)[ok])
    return float(inside.mean()) if ok.any() else float("nan")


# -- per-model score tables ---------------------------------------------------------------------
@dataclass
class ForecastScores:
    """Scores of one model's forecasts of y [N, H]: ``crps`` [N, H] (NaN for quantile-only
    models), ``pinball`` [N, H, Q] at ``levels``, ``pit`` [N, H] (NaN without samples),
    ``lower`` / ``upper`` [N, H] the central 90% interval."""

    levels: tuple[float, ...]
    y: np.ndarray
    crps: np.ndarray
    pinball: np.ndarray
    pit: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def mean_pinball(self) -> np.ndarray:
        """[N, H]: pinball averaged over the levels (x2 it approximates the CRPS)."""
        return self.pinball.mean(-1)


def score_samples(paths: np.ndarray, y: np.ndarray, levels: tuple[float, ...] = LEVELS,
                  ) -> ForecastScores:
    """Score daily-return scenario paths [N, M, H] against realised h-day returns y [N, H]."""
    paths = np.asarray(paths, dtype=np.float64)
    if paths.ndim != 3 or paths.shape[0] != y.shape[0] or paths.shape[2] != y.shape[1]:
        raise DataError(f"expected paths [N, M, H] and y [N, H], got {list(paths.shape)} and "
                        f"{list(y.shape)}")
    levels = _check_levels(levels)
    draws = np.moveaxis(horizon_returns(paths), 1, -1)  # [N, H, M]
    q = sample_quantiles(draws, levels)  # [N, H, Q]
    bounds = sample_quantiles(draws, (0.05, 0.95))
    return ForecastScores(levels, y, crps_samples(draws, y),
                          pinball_loss(q, y[..., None], np.asarray(levels)), pit_values(draws, y),
                          bounds[..., 0], bounds[..., 1])


def score_quantiles(quantiles: np.ndarray, levels: tuple[float, ...], y: np.ndarray,
                    ) -> ForecastScores:
    """Score quantile forecasts [N, H, Q] of h-day returns at ``levels`` (which must include
    0.05 and 0.95 for the coverage) against y [N, H]. CRPS and PIT are NaN."""
    levels = _check_levels(levels)
    q = np.asarray(quantiles, dtype=np.float64)
    if q.shape != (*y.shape, len(levels)):
        raise DataError(f"expected quantiles {[*y.shape, len(levels)]}, got {list(q.shape)}")
    missing = [v for v in (0.05, 0.95) if v not in levels]
    if missing:
        raise ConfigError(f"levels {list(levels)} lack {missing}, needed for the 90% interval")
    nan = np.full(y.shape, np.nan)
    return ForecastScores(levels, y, nan, pinball_loss(q, y[..., None], np.asarray(levels)), nan,
                          q[..., levels.index(0.05)], q[..., levels.index(0.95)])


def summary_table(scores: dict[str, ForecastScores]) -> pd.DataFrame:
    """One row per (model, horizon): ``n``, ``crps``, ``pinball_<level>``, ``pinball_mean``,
    ``coverage90``, ``pit_ks``; index (model, horizon), horizons 1-based."""
    rows = []
    for name, s in scores.items():
        for h in range(s.y.shape[1]):
            ok = np.isfinite(s.y[:, h])
            row: dict[str, object] = {"model": name, "horizon": h + 1, "n": int(ok.sum()),
                                      "crps": float(np.mean(s.crps[ok, h]))}
            for i, level in enumerate(s.levels):
                row[f"pinball_{level:g}"] = float(np.mean(s.pinball[ok, h, i]))
            row["pinball_mean"] = float(np.mean(s.mean_pinball[ok, h]))
            row["coverage90"] = coverage(s.lower[ok, h], s.upper[ok, h], s.y[ok, h])
            row["pit_ks"] = calibration(s.pit[ok, h])["ks"]
            rows.append(row)
    return pd.DataFrame(rows).set_index(["model", "horizon"])


def dm_table(scores: dict[str, ForecastScores], benchmark: str) -> pd.DataFrame:
    """Diebold-Mariano tests (:func:`qseq.metrics.dm_test`, h-step overlap) of each model's
    loss against ``benchmark``'s, per horizon: CRPS when both have it, else mean pinball. Rows
    (model, horizon) with ``loss``, ``diff`` (model minus benchmark; < 0: the model is better),
    ``dm`` and ``p_value``. Origins must be consecutive days in time order."""
    from qseq.metrics import dm_test

    if benchmark not in scores:
        raise ConfigError(f"unknown benchmark {benchmark!r}; choose one of {list(scores)}")
    base = scores[benchmark]
    rows = []
    for name, s in scores.items():
        if name == benchmark:
            continue
        use_crps = bool(np.isfinite(s.crps).any())
        a, b = (s.crps, base.crps) if use_crps else (s.mean_pinball, base.mean_pinball)
        for h in range(s.y.shape[1]):
            res = dm_test(a[:, h] - b[:, h], horizon=h + 1)
            rows.append({"model": name, "horizon": h + 1, "loss": "crps" if use_crps else "pinball",
                         "diff": res.mean_loss_diff, "dm": res.statistic, "p_value": res.p_value})
    return pd.DataFrame(rows).set_index(["model", "horizon"])


# -- baseline -----------------------------------------------------------------------------------
def bootstrap_paths(train_returns: np.ndarray, n_origins: int, n_paths: int, horizon: int, *,
                    block: int = 1, seed: int = 0) -> np.ndarray:
    """Historical bootstrap: daily log-return paths [n_origins, n_paths, horizon] resampled from
    ``train_returns`` [L]. ``block == 1``: iid days; ``block > 1``: moving blocks of ``block``
    consecutive days (Kunsch 1989) laid end to end, which keeps short-range dependence. The
    same distribution for every origin (unconditional)."""
    r = np.asarray(train_returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if block < 1 or block > len(r):
        raise ConfigError(f"block must be in [1, {len(r)}], got {block}")
    rng = np.random.default_rng(seed)
    n_blocks = -(-horizon // block)
    starts = rng.integers(0, len(r) - block + 1, size=(n_origins, n_paths, n_blocks))
    idx = (starts[..., None] + np.arange(block)).reshape(n_origins, n_paths, n_blocks * block)
    return r[idx[..., :horizon]]
