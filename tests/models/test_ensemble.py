"""Seed ensembles: the grouped kernel equals torch's fused modules, a batched ensemble fit equals
independent fits of its members, and the Forecaster/CLI surface carries ``ensemble``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qseq import Forecaster
from qseq.errors import ConfigError
from qseq.models import ModelConfig, build_model
from qseq.models.ensemble import Ensemble, build_ensemble, grouped_recurrent
from qseq.train import TrainConfig, fit_model


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "birnn", "bilstm", "bigru"])
@pytest.mark.parametrize("tickers,quantiles,highway", [(1, (), False), (3, (0.1, 0.5, 0.9), False),
                                                        (1, (), True), (3, (0.2, 0.8), True)])
def test_grouped_forward_equals_each_member(name, tickers, quantiles, highway):
    cfg = ModelConfig(input_size=4, horizons=3, hidden_size=8, num_layers=2, n_tickers=tickers,
                      ticker_dim=2, quantiles=quantiles, highway=highway)
    ens = build_ensemble(name, cfg, seed=5, size=3)
    assert isinstance(ens, Ensemble) and ens.grouped
    x = torch.randn(7, 10, 4)
    ticker = torch.randint(0, tickers, (7,)) if tickers > 1 else None
    with torch.no_grad():
        grouped = grouped_recurrent(list(ens.members), x, ticker)
        each = torch.stack([m(x, ticker).y_hat for m in ens.members])
        torch.testing.assert_close(grouped, each, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(ens(x, ticker).y_hat, each.mean(0), atol=1e-6, rtol=1e-5)


def test_members_are_lone_models_of_consecutive_seeds():
    cfg = ModelConfig(input_size=2, horizons=2, hidden_size=4, num_layers=1)
    ens = build_ensemble("gru", cfg, seed=3, size=2)
    for k, member in enumerate(ens.members):
        torch.manual_seed(3 + k)
        lone = build_model("gru", cfg)
        for key, value in lone.state_dict().items():
            assert torch.equal(value, member.state_dict()[key]), key
    assert not isinstance(build_ensemble("gru", cfg, seed=3, size=1), Ensemble)


def test_non_recurrent_members_run_one_by_one():
    cfg = ModelConfig(input_size=2, horizons=3, hidden_size=8, num_layers=1, lookback=12)
    ens = build_ensemble("attn_seq2seq", cfg, seed=0, size=2)
    assert not ens.grouped
    x = torch.randn(4, 12, 2)
    out = ens(x)
    each = [m(x) for m in ens.members]
    torch.testing.assert_close(out.y_hat, torch.stack([o.y_hat for o in each]).mean(0))
    torch.testing.assert_close(out.attention, torch.stack([o.attention for o in each]).mean(0))


@pytest.mark.parametrize("name,schedule", [("gru", "cosine"), ("lstm", "plateau"),
                                           ("bigru", "none")])
def test_batched_fit_equals_independent_fits(data, name, schedule, monkeypatch):
    """Member k of a grouped fit ends where a lone fit with seed ``seed + k`` ends: same
    shuffling, optimiser, clipping, schedule and early stopping (patience 2 makes members stop
    at different epochs). One torch thread throughout, so no fit's rounding depends on the
    host's load (qseq otherwise picks the cores free at each fit)."""
    monkeypatch.setenv("QSEQ_THREADS", "1")
    train, val = data
    cfg = ModelConfig(input_size=2, horizons=3, hidden_size=8, num_layers=2)
    tcfg = TrainConfig(epochs=6, batch_size=64, lr=0.02, patience=2, lr_schedule=schedule)
    ens = build_ensemble(name, cfg, seed=10, size=3)
    result = fit_model(ens, train, val, tcfg, seed=10, device="cpu")
    lone_results = []
    for k, member in enumerate(ens.members):
        torch.manual_seed(10 + k)
        lone = build_model(name, cfg)
        lone_results.append(fit_model(lone, train, val, tcfg, seed=10 + k, device="cpu"))
        for key, value in lone.state_dict().items():
            # batched products round differently from the fused kernels; after 6 epochs at
            # lr 0.02 that last-bit noise grows to ~1e-5
            torch.testing.assert_close(member.state_dict()[key], value, atol=1e-4, rtol=1e-3,
                                       msg=f"member {k} {key}")
    assert result.member_best_epochs == [r.best_epoch for r in lone_results]


def test_forecaster_ensemble_roundtrip(spx_small, tmp_path):
    fc = Forecaster("gru", lookback=12, horizons=2, hidden_size=8, num_layers=1, ensemble=3,
                    train={"epochs": 2, "batch_size": 64}, device="cpu").fit(spx_small)
    assert isinstance(fc.model_, Ensemble) and len(fc.model_.members) == 3
    assert len(fc.result_.member_best_epochs) == 3
    first = fc.predict(spx_small, last_only=True)
    loaded = Forecaster.load(fc.save(tmp_path / "ens"), device="cpu")
    assert loaded.config.ensemble == 3
    np.testing.assert_allclose(loaded.predict(spx_small, last_only=True)["y_hat"],
                               first["y_hat"], rtol=1e-6)
    with pytest.raises(ConfigError, match="cannot stream"):
        fc.stream()


def test_ensemble_size_is_checked():
    with pytest.raises(ConfigError, match="ensemble must be an integer >= 1"):
        Forecaster("gru", ensemble=0)


def test_member_epochs_train_each_member_for_its_own_count(data):
    """A refit on all data: member k runs exactly ``member_epochs[k]`` epochs, as its lone fit
    with that epoch count would (no validation, no early stopping)."""
    train, _ = data
    cfg = ModelConfig(input_size=2, horizons=3, hidden_size=8, num_layers=1)
    tcfg = TrainConfig(epochs=9, batch_size=64, lr_schedule="none")
    ens = build_ensemble("gru", cfg, seed=4, size=2)
    result = fit_model(ens, train, None, tcfg, seed=4, device="cpu", member_epochs=[1, 3])
    assert len(result.history) == 3  # the longest member
    for k, epochs in enumerate((1, 3)):
        torch.manual_seed(4 + k)
        lone = build_model("gru", cfg)
        fit_model(lone, train, None, TrainConfig(epochs=epochs, batch_size=64, lr_schedule="none"),
                  seed=4 + k, device="cpu")
        for key, value in lone.state_dict().items():
            torch.testing.assert_close(ens.members[k].state_dict()[key], value, atol=2e-5, rtol=1e-4)


def test_final_fit_all_refits_on_train_and_validation(spx_small):
    common = dict(lookback=12, horizons=(1, 5), target="variance", hidden_size=8, num_layers=1,
                  features=("log_return", "log_parkinson_var_1", "log_parkinson_var_5"),
                  ensemble=2, device="cpu")
    best = qseq_forecaster(spx_small, common, "best")
    full = qseq_forecaster(spx_small, common, "all")
    assert full.result_.member_best_epochs == best.result_.member_best_epochs  # same early stop
    assert not torch.equal(full.model_.members[0].head.weight, best.model_.members[0].head.weight)
    assert len(full.calibration_) == 2 and full.calibration_ != best.calibration_


def qseq_forecaster(panel, common, final_fit):
    return Forecaster("gru", **common, train={"epochs": 4, "batch_size": 128, "patience": 2,
                                              "final_fit": final_fit}).fit(panel)


def test_highway_adds_a_linear_map_of_the_last_bar():
    cfg = ModelConfig(input_size=3, horizons=2, hidden_size=4, num_layers=1, highway=True)
    model = build_model("gru", cfg)
    x = torch.randn(5, 7, 3)
    with torch.no_grad():
        plain = model.head(model.rnn(x)[0][:, -1])
        want = plain + x[:, -1] @ model.highway.weight.T + model.highway.bias
        torch.testing.assert_close(model(x).y_hat, want)
        x2 = x.clone()
        x2[:, -1] += 1.0  # the last bar moves the output through the highway too
        assert not torch.allclose(model(x2).y_hat, model(x).y_hat)
    from qseq.models import get_spec

    assert get_spec("gru").parameter_count(cfg) == sum(p.numel() for p in model.parameters())
    with pytest.raises(ConfigError, match="highway applies to the recurrent family"):
        Forecaster("attn_seq2seq", highway=True)


def test_highway_starts_at_the_least_squares_fit(data):
    """init_highway: before training, every member forecasts exactly the OLS fit of the scaled
    targets on the last bar's scaled inputs."""
    from qseq.forecaster import init_highway

    train, _ = data
    cfg = ModelConfig(input_size=2, horizons=3, hidden_size=8, num_layers=1, highway=True)
    ens = build_ensemble("gru", cfg, seed=1, size=2)
    init_highway(ens, train)
    x = train.values[train.anchors].astype(np.float64)
    design = np.column_stack([x, np.ones(len(x))])
    beta, *_ = np.linalg.lstsq(design, train.y.astype(np.float64), rcond=None)
    windows = torch.as_tensor(train.values[train.anchors[:, None] + np.arange(-15, 1)])
    with torch.no_grad():
        out = ens.member_outputs(windows, None)[0].y_hat  # [N, B, H]
    for k in range(2):
        np.testing.assert_allclose(out[k].numpy(), design @ beta, rtol=1e-4, atol=1e-5)


def test_interrupted_grouped_fit_resumes_to_identical_weights(data, tmp_path, monkeypatch,
                                                              interrupt):
    """A grouped ensemble fit killed after epoch 2 resumes from its per-member states and ends
    with exactly the weights of an uninterrupted fit; a torn state (members at different
    epochs) starts afresh instead of mixing epochs."""
    monkeypatch.setenv("QSEQ_THREADS", "1")
    train, val = data
    cfg = ModelConfig(input_size=2, horizons=3, hidden_size=8, num_layers=1)
    tcfg = TrainConfig(epochs=4, batch_size=64, patience=10)

    def fresh():
        return build_ensemble("gru", cfg, seed=2, size=3)

    straight = fresh()
    fit_model(straight, train, val, tcfg, seed=2, device="cpu")

    Interrupt, stop_after = interrupt
    state = tmp_path / "state"
    with pytest.raises(Interrupt):
        fit_model(fresh(), train, val, tcfg, seed=2, device="cpu", on_epoch=stop_after(2),
                  state_dir=state)
    assert all((state / f"member_{k}" / "state.json").is_file() for k in range(3))
    epochs = []
    resumed = fresh()
    fit_model(resumed, train, val, tcfg, seed=2, device="cpu", state_dir=state,
              on_epoch=lambda e: epochs.append(e.epoch))
    assert epochs == [3, 4]  # only the epochs that were left
    for key, value in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[key], value), key

    import shutil

    shutil.rmtree(state / "member_1")  # a torn state: one member missing
    epochs.clear()
    again = fresh()
    fit_model(again, train, val, tcfg, seed=2, device="cpu", state_dir=state,
              on_epoch=lambda e: epochs.append(e.epoch))
    assert epochs == [1, 2, 3, 4]
    for key, value in straight.state_dict().items():
        assert torch.equal(again.state_dict()[key], value), key
