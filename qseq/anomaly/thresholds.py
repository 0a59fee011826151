"""Score thresholds calibrated on a held-out normal period for a target false-alarm rate.

- ``quantile``: the empirical ``1 - q`` quantile of the calibration scores.
- ``pot`` (peaks over threshold; the calibration step of SPOT, Siffer et al., KDD 2017): take an
  initial threshold ``t`` (a high empirical quantile), fit a generalised Pareto distribution
  (shape gamma, scale sigma) to the ``N_t`` excesses ``s - t`` of the ``n`` calibration scores,
  and solve ``P(S > z) = q`` in the fitted tail:

      z = t + sigma / gamma * ((q n / N_t) ** -gamma - 1)      (gamma != 0)
      z = t - sigma * ln(q n / N_t)                             (gamma == 0)

  The tail model extrapolates below the empirical resolution, so ``q`` may be smaller than
  ``1 / n`` (which a plain quantile cannot honour).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from qseq.constants import THRESHOLD_METHODS as METHODS
from qseq.errors import ConfigError, DataError

MIN_PEAKS = 10
MIN_SHAPE = -0.5  # lower bound on the fitted GPD shape (Smith, 1985: regular MLE needs > -0.5)


@dataclass(frozen=True)
class Threshold:
    """A calibrated threshold: flag scores ``> value``. ``init``/``shape``/``scale``/``peaks``
    describe the POT tail fit (NaN / 0 for the quantile method)."""

    value: float
    method: str
    target_far: float
    n_calibration: int
    init: float = math.nan
    shape: float = math.nan
    scale: float = math.nan
    peaks: int = 0

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v)
                for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> Threshold:
        return cls(**{k: (math.nan if v is None else v) for k, v in data.items()})


def check_far(target_far: float) -> float:
    if not (isinstance(target_far, (int, float)) and 0 < target_far < 0.5):
        raise ConfigError(f"target false-alarm rate must be in (0, 0.5), got {target_far!r}; "
                          "e.g. 0.01 flags about 1% of normal bars")
    return float(target_far)


def _clean(scores: np.ndarray, need: int) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    scores = scores[np.isfinite(scores)]
    if len(scores) < need:
        raise DataError(f"only {len(scores)} calibration scores (need >= {need}); use a longer "
                        "calibration period (earlier --train-end start or more data)")
    return scores


def quantile_threshold(scores: np.ndarray, target_far: float) -> Threshold:
    """The empirical ``1 - target_far`` quantile (the next observed score above it)."""
    q = check_far(target_far)
    s = _clean(scores, 2)
    return Threshold(float(np.quantile(s, 1 - q, method="higher")), "quantile", q, len(s))


def fixed_shape_scale(excess: np.ndarray, shape: float) -> float:
    """Maximum-likelihood GPD scale for excesses [P] (> 0 somewhere) at a fixed ``shape`` in
    [-0.5, 0): a bounded 1-D search above the support bound ``scale > -shape * max(excess)``
    (``genpareto.fit`` with a fixed shape can return its starting value when that start lies
    outside the support)."""
    from scipy.optimize import minimize_scalar
    from scipy.stats import genpareto

    low = -shape * float(np.max(excess)) * (1 + 1e-9)
    high = low + 100 * float(np.mean(excess)) + 1e-12
    res = minimize_scalar(lambda s: -genpareto.logpdf(excess, shape, 0.0, s).sum(),
                          bounds=(low, high), method="bounded")
    return float(res.x)


def pot_threshold(scores: np.ndarray, target_far: float, init_level: float = 0.98) -> Threshold:
    """Peaks-over-threshold: GPD fitted (maximum likelihood, location 0, shape >= -0.5) to the
    excesses over the ``init_level`` quantile; at least :data:`MIN_PEAKS` peaks are used."""
    from scipy.stats import genpareto

    q = check_far(target_far)
    if not 0.5 <= init_level < 1:
        raise ConfigError(f"POT init_level must be in [0.5, 1), got {init_level}")
    s = np.sort(_clean(scores, 5 * MIN_PEAKS))
    n = len(s)
    n_peaks = max(int(round((1 - init_level) * n)), MIN_PEAKS)
    init = s[n - n_peaks - 1]  # the largest score below the peaks
    excess = s[n - n_peaks:] - init
    if np.ptp(excess) <= 0:  # all peaks equal: no tail to fit; the quantile is exact
        return quantile_threshold(s, q)
    shape, _, scale = genpareto.fit(excess, floc=0.0)
    if shape < MIN_SHAPE:  # the GPD likelihood has no maximum below -1 and is erratic near it
        shape, scale = MIN_SHAPE, fixed_shape_scale(excess, MIN_SHAPE)
    ratio = q * n / n_peaks
    if abs(shape) < 1e-8:
        value = init - scale * math.log(ratio)
    else:
        value = init + scale / shape * (ratio ** -shape - 1)
    return Threshold(float(value), "pot", q, n, float(init), float(shape), float(scale), n_peaks)


def calibrate(scores: np.ndarray, target_far: float, method: str = "pot") -> Threshold:
    """Threshold for ``scores`` of a normal period at ``target_far`` by ``method``."""
    if method not in METHODS:
        raise ConfigError(f"unknown threshold method {method!r}; choose one of {list(METHODS)}")
    return pot_threshold(scores, target_far) if method == "pot" else \
        quantile_threshold(scores, target_far)
