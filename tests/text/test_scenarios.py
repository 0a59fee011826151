"""Probabilistic scores: CRPS, pinball, PIT, coverage known answers; the bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qseq.errors import ConfigError
from qseq.text.scenarios import (
    LEVELS,
    bootstrap_paths,
    calibration,
    coverage,
    crps_normal,
    crps_samples,
    dm_table,
    horizon_returns,
    pinball_loss,
    pit_values,
    realized_horizon_returns,
    sample_quantiles,
    score_quantiles,
    score_samples,
    summary_table,
)


def test_crps_known_answers():
    assert crps_samples(np.array([0.0, 1.0]), np.array(0.5)) == pytest.approx(0.25)
    assert crps_samples(np.array([[2.0]]), np.array([-1.0]))[0] == pytest.approx(3.0)
    x = np.random.default_rng(0).normal(size=(3, 7))
    y = np.array([0.1, -2.0, 0.7])
    brute = [np.abs(x[i] - y[i]).mean() - 0.5 * np.abs(x[i][:, None] - x[i][None]).mean()
             for i in range(3)]
    np.testing.assert_allclose(crps_samples(x, y), brute)


def test_crps_normal_closed_form_and_samples_agree():
    # properscoring.crps_gaussian(0, 0, 1) = 2 phi(0) - 1/sqrt(pi) = 0.233695...
    assert crps_normal(0.0, 1.0, 0.0) == pytest.approx(2 / math.sqrt(2 * math.pi) - 1 / math.sqrt(math.pi))
    assert crps_normal(0.3, 2.0, 1.3) == pytest.approx(2.0 * crps_normal(0.0, 1.0, 0.5))
    draws = np.random.default_rng(1).normal(0.3, 2.0, 40000)
    for y in (-3.0, 0.3, 1.0, 5.0):
        assert crps_samples(draws, np.array(y)) == pytest.approx(crps_normal(0.3, 2.0, y), rel=0.01)


def test_pinball_known_answers():
    assert pinball_loss(1.0, 3.0, 0.9) == pytest.approx(1.8)
    assert pinball_loss(1.0, 0.0, 0.9) == pytest.approx(0.1)
    assert pinball_loss(1.0, 1.0, 0.5) == 0.0
    q = sample_quantiles(np.arange(101.0), (0.05, 0.5, 0.95))
    np.testing.assert_allclose(q, [5.0, 50.0, 95.0])


def test_pit_calibration_and_coverage_known_answers():
    x = np.arange(10.0)
    assert pit_values(x, np.array(4.5)) == pytest.approx(0.5)
    assert pit_values(x, np.array(4.0)) == pytest.approx(0.45)  # a tie counts half
    assert calibration(np.full(100, 0.5))["ks"] == pytest.approx(0.5)
    uniform = calibration((np.arange(1000) + 0.5) / 1000, bins=4)
    assert uniform["ks"] == pytest.approx(0.0005) and np.allclose(uniform["hist"], 0.25)
    assert coverage(np.zeros(4), np.ones(4), np.array([0.5, 1.0, 2.0, np.nan])) == pytest.approx(2 / 3)


def test_pit_of_the_true_distribution_is_uniform():
    rng = np.random.default_rng(2)
    draws = rng.normal(size=(2000, 400))
    y = rng.normal(size=2000)
    assert calibration(pit_values(draws, y))["ks"] < 0.04
    assert calibration(pit_values(draws, 2 * y))["ks"] > 0.1  # too narrow


def test_horizon_returns():
    paths = np.array([[[0.01, 0.02, -0.01]]])
    np.testing.assert_allclose(horizon_returns(paths), [[[0.01, 0.03, 0.02]]])
    r = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(realized_horizon_returns(r, np.array([0, 2]), 2),
                               [[0.2, 0.5], [0.4, np.nan]])


def test_score_samples_of_a_calibrated_model():
    rng = np.random.default_rng(3)
    daily = rng.normal(0, 0.01, (1500, 300, 3))  # iid N(0, 0.01^2) days
    y = horizon_returns(rng.normal(0, 0.01, (1500, 3)))
    s = score_samples(daily, y)
    table = summary_table({"model": s})
    assert list(table.index.get_level_values("horizon")) == [1, 2, 3]
    assert np.all(np.abs(table["coverage90"] - 0.9) < 0.03)
    assert np.all(table["pit_ks"] < 0.05)
    expected = crps_normal(0.0, 0.01 * np.sqrt(3), y[:, 2]).mean()
    assert table.loc[("model", 3), "crps"] == pytest.approx(expected, rel=0.02)
    assert set(table.columns) >= {f"pinball_{q:g}" for q in LEVELS}


def test_score_quantiles_and_dm_table():
    rng = np.random.default_rng(4)
    y = rng.normal(0, 1, (300, 2))
    from scipy import stats

    exact = np.broadcast_to(stats.norm.ppf(LEVELS), (300, 2, 5))
    quant = score_quantiles(exact, LEVELS, y)
    assert np.isnan(quant.crps).all()
    assert abs(coverage(quant.lower[:, 0], quant.upper[:, 0], y[:, 0]) - 0.9) < 0.05
    wide = score_quantiles(3 * exact, LEVELS, y)
    dm = dm_table({"exact": quant, "wide": wide}, "wide")
    assert list(dm["loss"]) == ["pinball", "pinball"] and (dm["diff"] < 0).all()
    with pytest.raises(ConfigError, match="0.05"):
        score_quantiles(exact[..., 1:4], (0.1, 0.5, 0.9), y)


def test_bootstrap_paths():
    train = np.arange(100.0)
    iid = bootstrap_paths(train, 3, 50, 4, seed=0)
    assert iid.shape == (3, 50, 4) and np.isin(iid, train).all()
    np.testing.assert_array_equal(iid, bootstrap_paths(train, 3, 50, 4, seed=0))
    block = bootstrap_paths(train, 3, 50, 4, block=4, seed=1)
    assert (np.diff(block, axis=-1) == 1).all()  # consecutive training days
    two = bootstrap_paths(train, 2, 20, 5, block=2, seed=1)
    assert (np.diff(two[..., :2], axis=-1) == 1).all() and (np.diff(two[..., 2:4], axis=-1) == 1).all()
    with pytest.raises(ConfigError, match="block"):
        bootstrap_paths(train, 1, 1, 1, block=0)
