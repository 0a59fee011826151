"""The training loop: determinism, early stopping that restores the best weights, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qseq.errors import ConfigError, TrainingError
from qseq.models import ModelConfig, build_model
from qseq.train import TrainConfig, WindowBatches, fit_model, predict_windows, resolve_device


def _model(seed=0):
    torch.manual_seed(seed)
    return build_model("gru", ModelConfig(input_size=2, horizons=3, hidden_size=8, num_layers=1))


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_same_seed_gives_identical_weights(data):
    train, val = data
    cfg = TrainConfig(epochs=2, batch_size=64)
    m1, m2 = _model(), _model()
    fit_model(m1, train, val, cfg, seed=5, device="cpu")
    fit_model(m2, train, val, cfg, seed=5, device="cpu")
    for k, v in m1.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k
    m3 = _model()
    fit_model(m3, train, val, cfg, seed=6, device="cpu")
    assert not torch.equal(m1.state_dict()["head.weight"], m3.state_dict()["head.weight"])


def test_early_stopping_restores_best_epoch(data):
    train, val = data
    snapshots, model = {}, _model()

    def on_epoch(entry):
        snapshots[entry.epoch] = (entry.val_loss, _state(model))

    # A high learning rate makes validation loss bounce, so the best epoch is not the last.
    cfg = TrainConfig(epochs=12, batch_size=32, lr=0.05, patience=3, lr_schedule="none")
    result = fit_model(model, train, val, cfg, seed=0, device="cpu", on_epoch=on_epoch)
    best = min(snapshots, key=lambda e: snapshots[e][0])
    assert result.best_epoch == best
    assert result.best_val_loss == pytest.approx(snapshots[best][0])
    for k, v in model.state_dict().items():
        assert torch.equal(v, snapshots[best][1][k]), k
    if result.stopped_early:
        assert len(result.history) == best + cfg.patience


def test_cosine_schedule_lowers_the_learning_rate(data):
    train, val = data
    result = fit_model(_model(), train, val, TrainConfig(epochs=4, patience=10), device="cpu")
    lrs = [h.lr for h in result.history]
    assert lrs[0] == pytest.approx(1e-3) and all(a > b for a, b in zip(lrs, lrs[1:], strict=False))


def test_non_finite_loss_stops_with_a_clear_error(data):
    train, val = data
    broken = train.with_values(train.values, np.full_like(train.targets, np.inf))
    with pytest.raises(TrainingError, match="non-finite in epoch 1; lower the learning rate"):
        fit_model(_model(), broken, val, TrainConfig(epochs=2), device="cpu")


def test_no_training_windows_is_an_error(data):
    train, _ = data
    with pytest.raises(TrainingError, match="no training windows"):
        fit_model(_model(), train.subset(np.array([], dtype=int)), None, TrainConfig(), device="cpu")


def test_batches_gather_the_same_windows_as_the_strided_view(data):
    train, _ = data
    batches = WindowBatches(train, torch.device("cpu"))
    x, y, ticker = batches.gather(batches.anchors[:10])
    assert np.array_equal(x.numpy(), train.x[:10])
    assert np.array_equal(y.numpy(), train.y[:10])
    assert x.shape == (10, 16, 2) and ticker.shape == (10,)


def test_predict_windows_matches_direct_forward(data):
    train, _ = data
    model = _model().eval()
    got = predict_windows(model, train, batch_size=7)
    with torch.no_grad():
        want = model(torch.tensor(train.x)).y_hat.numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bad", [dict(epochs=0), dict(batch_size=0), dict(lr=-1.0),
                                 dict(loss="mae"), dict(lr_schedule="step"), dict(patience=0)])
def test_train_config_rejects_bad_values(bad):
    with pytest.raises(ConfigError):
        TrainConfig(**bad)


def test_device_resolution():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu9")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_interrupted_training_resumes_to_identical_weights(data, tmp_path, interrupt):
    train, val = data
    cfg = TrainConfig(epochs=5, batch_size=64, patience=10)
    straight = _model()
    ref = fit_model(straight, train, val, cfg, seed=3, device="cpu")

    Interrupt, stop_after = interrupt
    state = tmp_path / "state"
    with pytest.raises(Interrupt):
        fit_model(_model(), train, val, cfg, seed=3, device="cpu", on_epoch=stop_after(2),
                  state_dir=state)
    assert (state / "state.safetensors").is_file() and (state / "state.json").is_file()
    seen = []
    resumed = _model(seed=99)  # different init: everything must come from the saved state
    res = fit_model(resumed, train, val, cfg, seed=3, device="cpu", state_dir=state,
                    on_epoch=lambda e: seen.append(e.epoch))
    assert seen == [3, 4, 5]
    assert [h.train_loss for h in res.history] == [h.train_loss for h in ref.history]
    assert res.best_epoch == ref.best_epoch
    for k, v in straight.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_state_of_another_run_is_ignored(data, tmp_path):
    train, val = data
    state = tmp_path / "state"
    fit_model(_model(), train, val, TrainConfig(epochs=1), seed=0, device="cpu", state_dir=state)
    seen = []
    fit_model(_model(), train, val, TrainConfig(epochs=2, lr=3e-3), seed=0, device="cpu",
              state_dir=state, on_epoch=lambda e: seen.append(e.epoch))
    assert seen == [1, 2]


def test_unreadable_state_is_a_clear_error(data, tmp_path):
    from qseq.errors import CheckpointError

    train, val = data
    state = tmp_path / "state"
    fit_model(_model(), train, val, TrainConfig(epochs=1), seed=0, device="cpu", state_dir=state)
    (state / "state.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="delete that folder"):
        fit_model(_model(), train, val, TrainConfig(epochs=1), seed=0, device="cpu", state_dir=state)


def test_horizon_weights_weight_each_horizons_mean_loss():
    from qseq.train import loss_function

    y_hat, y = torch.randn(16, 3), torch.randn(16, 3)
    per = ((y_hat - y) ** 2).mean(dim=0)
    weighted = loss_function(TrainConfig(horizon_weights=(1.0, 0.5, 0.5)), _model())
    assert float(weighted(y_hat, y)) == pytest.approx(float(per @ torch.tensor([0.5, 0.25, 0.25])))
    equal = loss_function(TrainConfig(horizon_weights="2,2,2"), _model())
    assert float(equal(y_hat, y)) == pytest.approx(float(torch.nn.functional.mse_loss(y_hat, y)))
    q = build_model("gru", ModelConfig(input_size=2, horizons=3, hidden_size=4, num_layers=1,
                                       quantiles=(0.1, 0.5, 0.9)))
    pin = loss_function(TrainConfig(horizon_weights=(1, 1, 1)), q)
    plain = loss_function(TrainConfig(), q)
    yq = torch.randn(16, 3, 3)
    assert float(pin(yq, y)) == pytest.approx(float(plain(yq, y)))
    with pytest.raises(ConfigError, match="horizon_weights"):
        TrainConfig(horizon_weights=(1, -1))
    from qseq.config import ForecastConfig

    with pytest.raises(ConfigError, match="one per horizon"):
        ForecastConfig(horizons=(1, 5), train=TrainConfig(horizon_weights=(1, 1, 1)))


def test_qlike_loss_is_qlike_of_the_unscaled_variance_forecast():
    """loss='qlike' on scaled log variances equals qseq.metrics' QLIKE of the variances
    themselves (plus qlike_mse times the squared scaled-log error)."""
    from qseq.metrics import qlike_losses
    from qseq.train import loss_function

    gen = torch.Generator().manual_seed(3)
    y_hat, y = torch.randn(64, 3, generator=gen), torch.randn(64, 3, generator=gen)
    mean, scale = np.array([-9.0, -8.5, -8.0]), np.array([1.2, 0.9, 0.6])
    v = np.exp(mean + scale * y.double().numpy())
    f = np.exp(mean + scale * y_hat.double().numpy())
    want = qlike_losses(v, f)  # [64, 3]
    plain = loss_function(TrainConfig(loss="qlike", qlike_mse=0.0), _model(), target_scale=scale)
    assert float(plain(y_hat, y)) == pytest.approx(want.mean(), rel=1e-5)
    mixed = loss_function(TrainConfig(loss="qlike", qlike_mse=2.0, horizon_weights=(1, 0.5, 0.5)),
                          _model(), target_scale=scale)
    per = (want + 2.0 * ((y - y_hat) ** 2).double().numpy()).mean(axis=0)
    assert float(mixed(y_hat, y)) == pytest.approx(per @ np.array([0.5, 0.25, 0.25]), rel=1e-5)


def test_qlike_loss_is_minimised_by_the_log_of_the_mean_variance():
    """A constant forecast minimising QLIKE is ln E[v], not E[ln v] (no smearing needed)."""
    from qseq.train import loss_function

    scale = 1.5
    y = torch.randn(4000, 1, generator=torch.Generator().manual_seed(0))
    loss = loss_function(TrainConfig(loss="qlike", qlike_mse=0.0), _model(), target_scale=[scale])
    c = torch.zeros(1, 1, requires_grad=True)
    opt = torch.optim.LBFGS([c], max_iter=100)

    def closure():
        opt.zero_grad()
        out = loss(c.expand_as(y), y)
        out.backward()
        return out

    opt.step(closure)
    want = float(torch.log(torch.exp(scale * y).mean())) / scale  # ln mean(v), scaled
    got = float(c.detach())
    assert got == pytest.approx(want, abs=1e-4)
    assert abs(got - float(y.mean())) > 0.5  # far from the mean of the logs


def test_qlike_loss_needs_a_variance_target():
    from qseq.config import ForecastConfig
    from qseq.train import loss_function

    with pytest.raises(ConfigError, match="target: variance"):
        ForecastConfig(target="log_return", train=TrainConfig(loss="qlike"))
    with pytest.raises(ConfigError, match="variance target"):
        loss_function(TrainConfig(loss="qlike"), _model())
    with pytest.raises(ConfigError, match="qlike_mse"):
        TrainConfig(qlike_mse=-1.0)
