"""Return tokenizer and EWMA scale: known answers, invertibility, specials, errors."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from qseq.errors import ConfigError, DataError, NotFittedError
from qseq.text.tokens import EwmaScale, ReturnTokenizer

TRAIN = np.arange(1.0, 101.0)  # 1..100: quartile edges 25.75, 50.5, 75.25


def test_bins_are_training_quantiles_and_medians():
    tok = ReturnTokenizer(4).fit(TRAIN)
    np.testing.assert_allclose(tok.edges_, [25.75, 50.5, 75.25])
    np.testing.assert_allclose(tok.values_, [13.0, 38.0, 63.0, 88.0])  # medians of 1..25, ...
    np.testing.assert_allclose(tok.low_, [1.0, 25.75, 50.5, 75.25])
    np.testing.assert_allclose(tok.high_, [25.75, 50.5, 75.25, 100.0])
    assert tok.n_bins_ == 4 and tok.vocab_size == 7


def test_specials_come_first():
    tok = ReturnTokenizer(4).fit(TRAIN)
    assert (tok.pad_id, tok.bos_id, tok.eos_id) == (0, 1, 2)
    assert tok.special_id("EOS") == 2
    np.testing.assert_array_equal(tok.encode([1.0, 30.0, 60.0, 99.0]), [3, 4, 5, 6])
    with pytest.raises(DataError, match="special token BOS"):
        tok.decode([1])
    with pytest.raises(DataError, match="id 7"):
        tok.decode([7])
    with pytest.raises(ConfigError, match="include"):
        ReturnTokenizer(4, specials=("PAD", "BOS"))


def test_bins_come_from_training_data_only():
    tok = ReturnTokenizer(4).fit(TRAIN)
    before = tok.to_dict()
    test = np.array([-1e3, 0.0, 50.0, 1e3])  # outside the training range: end bins
    np.testing.assert_array_equal(tok.encode(test), [3, 3, 4, 6])
    assert tok.to_dict() == before  # encoding never refits


def test_representatives_round_trip():
    tok = ReturnTokenizer(8).fit(np.random.default_rng(0).standard_t(4, 3000) * 0.01)
    ids = np.arange(tok.n_specials, tok.vocab_size)
    values = tok.decode(ids)
    np.testing.assert_array_equal(tok.encode(values), ids)
    np.testing.assert_array_equal(tok.decode(tok.encode(values)), values)
    assert np.all(np.diff(values) > 0)


def test_sampling_within_bins():
    tok = ReturnTokenizer(4).fit(TRAIN)
    ids = np.repeat(np.arange(3, 7), 500).reshape(4, 500)
    draws = tok.decode(ids, sample=True, generator=np.random.default_rng(1))
    assert draws.shape == ids.shape
    assert np.all(draws >= tok.low_[:, None]) and np.all(draws <= tok.high_[:, None])
    np.testing.assert_array_equal(tok.encode(draws[:, 1:-1]), ids[:, 1:-1])
    again = tok.decode(ids, sample=True, generator=np.random.default_rng(1))
    np.testing.assert_array_equal(draws, again)


def test_errors():
    with pytest.raises(NotFittedError, match="fit"):
        ReturnTokenizer(4).encode([0.1])
    with pytest.raises(DataError, match="NaN"):
        ReturnTokenizer(4).fit([0.1, np.nan, 0.2, 0.3, 0.4])
    tok = ReturnTokenizer(4).fit(TRAIN)
    with pytest.raises(DataError, match="non-finite"):
        tok.encode([0.1, np.nan])
    with pytest.raises(DataError, match="at least"):
        ReturnTokenizer(64).fit(TRAIN[:10])
    with pytest.raises(ConfigError, match="n_bins"):
        ReturnTokenizer(1)


def test_ties_are_merged(caplog):
    with caplog.at_level(logging.WARNING):
        tok = ReturnTokenizer(4).fit(np.r_[np.zeros(80), np.arange(1.0, 21.0)])
    assert tok.n_bins_ == 2 and "merged" in caplog.text
    assert tok.encode([0.0])[0] == 3


def test_dict_round_trip():
    tok = ReturnTokenizer(16).fit(np.random.default_rng(2).normal(size=500))
    back = ReturnTokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    x = np.random.default_rng(3).normal(size=100)
    np.testing.assert_array_equal(back.encode(x), tok.encode(x))
    np.testing.assert_array_equal(back.decode(tok.encode(x)), tok.decode(tok.encode(x)))
    with pytest.raises(DataError, match="unknown keys"):
        ReturnTokenizer.from_dict({**tok.to_dict(), "extra": 1})


def test_ewma_scale_is_causal_and_invertible():
    r = np.random.default_rng(4).normal(0, 0.01, 300)
    scale = EwmaScale(0.9).fit(r[:200])
    z, sigma = scale.standardize(r)
    assert sigma.shape == (301,) and sigma[0] == pytest.approx(np.std(r[:200]))
    changed = r.copy()
    changed[150:] *= 5
    z2, sigma2 = scale.standardize(changed)
    np.testing.assert_array_equal(sigma2[:151], sigma[:151])  # sigma[t] sees r[:t] only
    np.testing.assert_array_equal(z2[:150], z[:150])
    origin = 99  # last known day; the next 5 days rebuilt from their z and sigma[100]
    paths = scale.rescale_paths(z[None, None, origin + 1:origin + 6], sigma[[origin + 1]])
    np.testing.assert_allclose(paths[0, 0], r[origin + 1:origin + 6])
