"""Seed ensembles of autoencoders (``ensemble=N``): member k is the lone detector of seed
``seed + k``, scores are those of the members' mean reconstruction, checkpoints round-trip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from qseq.anomaly import AnomalyDetector
from qseq.anomaly.scores import fit_normalisers, score_windows
from qseq.anomaly.training import last_bar_errors
from qseq.config import AnomalyConfig
from qseq.errors import ConfigError
from qseq.models import ModelConfig, ModelOutput
from qseq.models.ensemble import Ensemble

from .conftest import tiny_detector


@pytest.fixture(scope="module")
def ens(spx) -> AnomalyDetector:
    return tiny_detector(ensemble=2).fit(spx)


def _states_equal(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k, v in sa.items():
        assert torch.equal(v, sb[k]), k


class MeanReconstruction(nn.Module):
    """The known answer: the plain mean of the members' reconstructions."""

    def __init__(self, members) -> None:
        super().__init__()
        self.members = list(members)

    def forward(self, x, ticker=None):
        return ModelOutput(y_hat=sum(m(x, ticker).y_hat for m in self.members) / len(self.members))


def test_ensemble_option_is_checked():
    assert AnomalyConfig().ensemble >= 1
    with pytest.raises(ConfigError, match="ensemble"):
        AnomalyConfig(ensemble=0)


def test_ensemble_one_is_the_lone_model(fitted):
    assert fitted.config.ensemble == 1
    assert not isinstance(fitted.model_, Ensemble)
    assert not any(k.startswith("members.") for k in fitted.model_.state_dict())


def test_member_k_is_the_lone_detector_of_seed_plus_k(ens, fitted, spx):
    assert isinstance(ens.model_, Ensemble) and len(ens.model_.members) == 2
    _states_equal(ens.model_.members[0], fitted.model_)  # fitted: the same detector, seed 0
    _states_equal(ens.model_.members[1], tiny_detector(seed=1).fit(spx).model_)
    assert len(ens.result_.member_best_epochs) == 2


def test_scores_are_those_of_the_mean_reconstruction(ens, spx):
    scaled = ens.scaled_windows(spx)
    dates = scaled.anchor_date
    span = ens.split_dates_["train"]
    train = scaled.subset((dates >= np.datetime64(span[0])) & (dates <= np.datetime64(span[1])))
    mean = MeanReconstruction(ens.model_.members).eval()
    bar_norm, window_norm = fit_normalisers(mean, train)
    np.testing.assert_allclose(ens.bar_norm_.scale_, bar_norm.scale_, rtol=1e-6)
    np.testing.assert_allclose(ens.window_norm_.scale_, window_norm.scale_, rtol=1e-6)
    expected = score_windows(mean, scaled, ens.bar_norm_, ens.window_norm_,
                             scale_window=ens.config.score_window,
                             combine=ens.config.score_combine, scale=ens.feature_scale_)
    got = ens.score(spx)
    pd.testing.assert_frame_equal(got.drop(columns="flag"), expected, rtol=1e-6)
    # and one bar by hand: the last bar's squared error of the averaged reconstruction
    x = torch.as_tensor(scaled.values[scaled.anchors[-1] - ens.config.lookback + 1:
                                      scaled.anchors[-1] + 1][None], dtype=torch.float32)
    with torch.no_grad():
        x_hat = torch.stack([m(x).y_hat for m in ens.model_.members]).mean(0)
    bar_err, _ = last_bar_errors(ens.model_, scaled.subset(np.arange(len(scaled)) == len(scaled) - 1))
    np.testing.assert_allclose(bar_err[0], ((x_hat - x)[0, -1] ** 2).numpy(), rtol=1e-5)


def test_ensemble_save_load_round_trip(ens, spx, tmp_path):
    ens.save(tmp_path / "det")
    keys = load_file(str(tmp_path / "det" / "model.safetensors")).keys()
    assert keys and all(k.startswith(("members.0.", "members.1.")) for k in keys)
    again = AnomalyDetector.load(tmp_path / "det", device="cpu")
    assert again.config.ensemble == 2 and isinstance(again.model_, Ensemble)
    _states_equal(again.model_, ens.model_)
    pd.testing.assert_frame_equal(again.score(spx), ens.score(spx))
    assert again.threshold_ == ens.threshold_
    assert again.result_.member_best_epochs == ens.result_.member_best_epochs


def test_ensemble_fit_is_deterministic(ens, spx):
    again = tiny_detector(ensemble=2).fit(spx)
    _states_equal(again.model_, ens.model_)
    assert again.threshold_ == ens.threshold_
    pd.testing.assert_frame_equal(again.score(spx), ens.score(spx))


def test_ensemble_embeddings_are_the_first_members():
    det = tiny_detector(ensemble=2)
    cfg = ModelConfig(input_size=len(det.config.features), horizons=1, hidden_size=4,
                      n_tickers=3, ticker_dim=2, lookback=16)
    det.model_ = det._build_model(cfg)
    det.tickers_ = ("A", "B", "C")
    det.threshold_ = object()  # only "fitted" matters here
    emb = det.embeddings()
    first = det.model_.members[0].embeddings().detach().numpy()
    np.testing.assert_array_equal(emb.to_numpy(), first.astype(np.float64))
    assert list(emb.index) == ["A", "B", "C"]
