"""Order-book targets: known answers, the training-only threshold, what a label depends on."""

from __future__ import annotations

import numpy as np
import pytest

from qseq.errors import ConfigError, DataError
from qseq.lob.labels import (
    class_counts,
    class_weights,
    direction_labels,
    direction_targets,
    fit_alpha,
    return_targets,
    smoothed_change,
)

NAN = np.nan
MID = np.array([10.0, 11.0, 12.0, 12.0, 10.0])


def test_smoothed_change_k1_k2_known():
    change = smoothed_change(MID, [1, 2])
    np.testing.assert_allclose(change[:, 0], [0.1, 1 / 11, 0.0, -1 / 6, NAN])
    np.testing.assert_allclose(change[:, 1], [0.15, 1 / 11, -1 / 12, NAN, NAN])


def test_past_reference_variant():
    change = smoothed_change(MID, [2], reference="past")[:, 0]
    # m_minus(t) = mean(mid[t-1..t]); m_plus(t) = mean(mid[t+1..t+2])
    np.testing.assert_allclose(change, [NAN, (12 - 10.5) / 10.5, (11 - 11.5) / 11.5, NAN, NAN])
    with pytest.raises(ConfigError, match="reference"):
        smoothed_change(MID, [2], reference="future")


def test_direction_thresholds():
    labels, alpha = direction_targets(MID, [1, 2], alpha=0.095)
    np.testing.assert_array_equal(alpha, [0.095, 0.095])
    np.testing.assert_array_equal(labels[:, 0], [2, 1, 1, 0, NAN])  # 1/11 = 0.0909 <= alpha
    np.testing.assert_array_equal(labels[:, 1], [2, 1, 1, NAN, NAN])
    assert labels.dtype == np.float32
    zero = direction_labels(smoothed_change(MID, 1), 0.0)[:, 0]
    np.testing.assert_array_equal(zero, [2, 2, 1, 0, NAN])
    per_k = direction_labels(smoothed_change(MID, [1, 2]), np.array([0.2, 0.0]))
    np.testing.assert_array_equal(per_k[:3], [[1, 2], [1, 2], [1, 0]])


def test_return_target():
    got = return_targets(MID, [1, 3])
    np.testing.assert_allclose(got[:, 0], [np.log(1.1), np.log(12 / 11), 0, np.log(10 / 12), NAN])
    np.testing.assert_allclose(got[:, 1], [np.log(1.2), np.log(10 / 11), NAN, NAN, NAN])
    assert np.isnan(return_targets(MID, [9])).all()


def test_auto_alpha_is_fit_on_training_rows_only():
    rng = np.random.default_rng(0)
    mid = 100 * np.exp(np.cumsum(rng.normal(0, 1e-4, 600)))
    train = np.arange(300)
    labels, alpha = direction_targets(mid, [5, 10], alpha="auto", train_rows=train)
    change = smoothed_change(mid, [5, 10])
    np.testing.assert_allclose(alpha, np.quantile(np.abs(change[train]), 1 / 3, axis=0))
    share = np.mean(labels[train] == 1, axis=0)
    np.testing.assert_allclose(share, 1 / 3, atol=0.01)  # balanced on training rows
    other = mid.copy()
    other[320:] *= np.exp(rng.normal(0, 5e-3, 280))  # rows the training labels never read
    _, alpha_other = direction_targets(other, [5, 10], alpha="auto", train_rows=train)
    np.testing.assert_array_equal(alpha, alpha_other)
    with pytest.raises(ConfigError, match="train_rows"):
        direction_targets(mid, 5, alpha="auto")
    with pytest.raises(DataError, match="no training labels"):
        fit_alpha(change, np.arange(595, 600))


def test_label_at_t_depends_only_on_t_to_t_plus_k():
    rng = np.random.default_rng(1)
    mid = 100 + np.cumsum(rng.normal(0, 0.01, 200))
    t, k = 100, 7
    base = direction_targets(mid, [k], alpha=1e-5)[0][t]
    ret = return_targets(mid, [k])[t]
    for lo, hi in ((0, t), (t + k + 1, 200)):
        other = mid.copy()
        other[lo:hi] += rng.normal(0, 1.0, hi - lo)
        np.testing.assert_array_equal(direction_targets(other, [k], alpha=1e-5)[0][t], base)
        np.testing.assert_array_equal(return_targets(other, [k])[t], ret)
    moved = mid.copy()
    moved[t + k] += 5.0  # inside the span: it does matter
    assert direction_targets(moved, [k], alpha=1e-5)[0][t, 0] == 2


def test_class_weights_inverse_frequency_mean_one():
    labels = np.array([[0, 1], [0, 1], [0, 1], [1, 1], [2, 1], [2, NAN]], dtype=np.float32)
    np.testing.assert_array_equal(class_counts(labels), [[3, 1, 2], [0, 5, 0]])
    weights = class_weights(labels)
    np.testing.assert_allclose(weights[0], [6 / 11, 18 / 11, 9 / 11])
    assert weights[0].mean() == pytest.approx(1.0)
    np.testing.assert_allclose(weights[1], [0, 1, 0])  # classes never seen weigh nothing


@pytest.mark.parametrize("bad", [0, -1, [5, 0], [], [2.5], [True]])
def test_bad_horizons(bad):
    with pytest.raises(ConfigError, match="horizons"):
        smoothed_change(MID, bad)
    with pytest.raises(ConfigError, match="horizons"):
        return_targets(MID, bad)


@pytest.mark.parametrize("bad", ["median", -0.1, float("nan"), None])
def test_bad_alpha(bad):
    with pytest.raises(ConfigError, match="alpha"):
        direction_targets(MID, 1, alpha=bad, train_rows=np.arange(3))
