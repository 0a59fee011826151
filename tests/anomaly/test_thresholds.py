"""Thresholds: POT recovers known tail quantiles; the quantile method; bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from qseq.anomaly.thresholds import (
    Threshold,
    calibrate,
    fixed_shape_scale,
    pot_threshold,
    quantile_threshold,
)
from qseq.errors import ConfigError, DataError


@pytest.mark.parametrize("dist,q", [
    (stats.expon(), 1e-3),                 # light tail (GPD shape 0)
    (stats.genpareto(0.25), 1e-3),         # heavy tail
    (stats.t(5), 5e-4),                    # Student t (polynomial tail)
])
def test_pot_recovers_the_true_tail_quantile(dist, q):
    sample = dist.rvs(size=40_000, random_state=np.random.default_rng(0))
    th = pot_threshold(sample, q)
    truth = dist.ppf(1 - q)
    assert th.method == "pot" and th.peaks == 800
    assert abs(th.value - truth) / truth < 0.1, (th, truth)


def test_pot_extrapolates_below_the_empirical_resolution():
    sample = stats.expon().rvs(size=2_000, random_state=np.random.default_rng(1))
    q = 1e-4  # 0.2 expected exceedances in the sample: a quantile cannot honour it
    th = pot_threshold(sample, q)
    assert th.value > sample.max()
    assert abs(th.value - (-math.log(q))) / -math.log(q) < 0.15


def test_quantile_threshold_false_alarm_rate():
    sample = np.random.default_rng(2).normal(size=10_000)
    th = quantile_threshold(sample, 0.01)
    assert np.mean(sample > th.value) == pytest.approx(0.01, abs=1e-3)
    assert th.n_calibration == 10_000 and math.isnan(th.shape)


def test_round_trip_and_equal_peaks_fall_back_to_the_quantile():
    th = calibrate(np.r_[np.zeros(900), np.ones(100)], 0.01, "pot")
    assert th.method == "quantile" and th.value == 1.0
    t2 = pot_threshold(np.random.default_rng(3).exponential(size=1000), 0.01)
    assert Threshold.from_dict(t2.to_dict()) == t2
    assert Threshold.from_dict(th.to_dict()).to_dict() == th.to_dict()


def test_bad_input():
    with pytest.raises(ConfigError, match="false-alarm rate must be in"):
        calibrate(np.ones(100), 0.6)
    with pytest.raises(ConfigError, match="unknown threshold method 'zscore'"):
        calibrate(np.ones(100), 0.01, "zscore")
    with pytest.raises(DataError, match="only 20 calibration scores"):
        pot_threshold(np.arange(20.0), 0.01)
    with pytest.raises(DataError, match="only 1 calibration scores"):
        quantile_threshold([np.nan, 1.0], 0.01)


def test_shape_at_the_bound_gets_its_maximum_likelihood_scale():
    """Excesses whose free GPD fit has shape < -0.5 (10 peaks of 119 calibration scores from a
    fitted detector): the scale is the fixed-shape MLE, not the optimiser's starting value."""
    top = np.array([7.78066235, 7.99794847, 8.8813047, 9.57368564, 9.99769049, 10.07514497,
                    11.41303139, 12.84517482, 14.78529202, 17.53642745, 18.26846462])
    excess = top[1:] - top[0]
    scale = fixed_shape_scale(excess, -0.5)
    assert scale > 0.5 * excess.max()  # inside the support
    nll = [-stats.genpareto.logpdf(excess, -0.5, 0, s).sum() for s in (scale * 0.98, scale, scale * 1.02)]
    assert nll[1] < nll[0] and nll[1] < nll[2]
    scores = np.r_[np.linspace(0.0, 7.3, 108), top]
    th = pot_threshold(scores, 0.01)
    assert th.shape == -0.5 and th.scale == pytest.approx(scale)
    assert top[-3] < th.value <= th.init + 2 * th.scale  # about 1 of 119 above; the tail's end
