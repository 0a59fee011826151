"""Classification heads (order-book direction): shapes, the weighted cross-entropy against
torch's, class weights by hand, DeepLOB's causal convolutions, and a known task every
classifier learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from qseq.config import TrainConfig
from qseq.data.windows import Windows
from qseq.errors import ConfigError
from qseq.models import ModelConfig, build_model, list_models, order_book_models
from qseq.models.ensemble import build_ensemble
from qseq.train import ClassLoss, class_weights, fit_model, predict_windows


def _cfg(name: str, **kw) -> ModelConfig:
    base = dict(input_size=10, horizons=2, hidden_size=12, num_layers=1, lookback=16, classes=3,
                book_levels=2)
    base.update(kw)
    return ModelConfig(**base)


@pytest.mark.parametrize("name", order_book_models())
def test_every_order_book_model_gives_logits_per_horizon_and_class(name):
    torch.manual_seed(0)
    model = build_model(name, _cfg(name), kind=None)
    y = model(torch.randn(5, 16, 10)).y_hat
    assert y.shape == (5, 2, 3) and torch.isfinite(y).all()


def test_order_book_models_are_every_forecaster_plus_deeplob():
    assert set(order_book_models()) == set(list_models()) | {"deeplob"}
    assert "deeplob" not in list_models()  # daily-bar commands do not offer it


def test_classes_and_book_levels_are_checked():
    with pytest.raises(ConfigError, match="classes must be 0"):
        ModelConfig(input_size=3, horizons=1, classes=1)
    with pytest.raises(ConfigError, match="quantiles or classes"):
        ModelConfig(input_size=3, horizons=1, classes=3, quantiles=(0.1, 0.9))
    with pytest.raises(ConfigError, match="book_levels 2 needs 4 x 2"):
        ModelConfig(input_size=7, horizons=1, book_levels=2)
    with pytest.raises(ConfigError, match="deeplob reads order-book windows"):
        build_model("deeplob", ModelConfig(input_size=8, horizons=1), kind=None)


def test_class_loss_equals_torch_weighted_cross_entropy():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 1, 3, generator=gen)
    y = torch.randint(0, 3, (64, 1), generator=gen)
    w = torch.tensor([[2.0, 0.5, 1.5]])
    ours = ClassLoss(w)(logits, y.float())
    per = torch.nn.functional.cross_entropy(logits[:, 0], y[:, 0], weight=w[0], reduction="none")
    assert torch.allclose(ours, per.mean(), atol=1e-6)  # a plain mean of the weighted terms
    assert ClassLoss(w, reduction="none")(logits, y.float()).shape == (64, 1)


def _windows(labels: np.ndarray, values: np.ndarray, lookback: int) -> Windows:
    rows = len(values)
    return Windows(values=values.astype(np.float32), targets=labels.astype(np.float32),
                   row_ticker=np.zeros(rows, dtype=np.int64),
                   row_date=np.arange(rows).astype("datetime64[s]"),
                   anchors=np.arange(lookback - 1, rows), lookback=lookback,
                   feature_names=tuple(f"f{i}" for i in range(values.shape[1])), tickers=("X",))


def test_class_weights_are_inverse_frequency_with_mean_one():
    labels = np.array([[0, 2], [1, 2], [1, 2], [1, 1]], dtype=float)
    w = class_weights(_windows(labels, np.zeros((4, 1)), 1), 3).numpy()
    # horizon 0: two classes present, shares 1/4, 3/4 -> 1/(2 * 0.25), 1/(2 * 0.75); absent -> 1
    assert np.allclose(w[0], [2.0, 2 / 3, 1.0])
    assert np.allclose(w[1], [1.0, 2.0, 2 / 3])
    for h in range(2):  # mean 1 over the training labels
        assert np.mean(w[h][labels[:, h].astype(int)]) == pytest.approx(1.0)
    assert np.all(class_weights(_windows(labels, np.zeros((4, 1)), 1), 3, balanced=False).numpy() == 1)
    with pytest.raises(ConfigError, match="class labels must be 0..2"):
        class_weights(_windows(labels + 1, np.zeros((4, 1)), 1), 3)


def test_deeplob_convolutions_are_causal():
    torch.manual_seed(0)
    model = build_model("deeplob", _cfg("deeplob", input_size=11), kind=None).eval()
    x = torch.randn(3, 30, 11)
    later = x.clone()
    later[:, 20:] += torch.randn(3, 10, 11)
    with torch.no_grad():
        a, b = model.encode(x), model.encode(later)
    assert torch.equal(a[:, :20], b[:, :20]) and not torch.allclose(a[:, 20:], b[:, 20:])


def _direction_task(n: int = 6000, seed: int = 0, lookback: int = 16):
    """The class at horizon 1 is the sign band of input column 0 one step before the anchor;
    at horizon 2 of column 5 (a 'bid size') at the anchor: a task any causal reader can solve."""
    rng = np.random.default_rng(seed)
    values = rng.standard_normal((n, 10))
    band = lambda v: np.digitize(v, [-0.43, 0.43])  # noqa: E731  (thirds of a normal)
    labels = np.full((n, 2), np.nan)
    labels[1:, 0] = band(values[:-1, 0])
    labels[:, 1] = band(values[:, 5])
    labels[0, 0] = 1
    windows = _windows(labels, values, lookback)
    cut = int(0.8 * n)
    return (windows.subset(windows.anchors < cut), windows.subset(windows.anchors >= cut + lookback))


@pytest.mark.parametrize("name", ["gru", "deeplob", "seq2seq"])
def test_classifiers_learn_a_known_direction_task(name):
    train, test = _direction_task()
    torch.manual_seed(0)
    model = build_model(name, _cfg(name, hidden_size=24), kind=None)
    fit_model(model, train, test, TrainConfig(epochs=8, batch_size=64, lr=3e-3, patience=8),
              seed=0, device="cpu")
    pred = predict_windows(model, test).argmax(-1)  # [N, H]
    accuracy = (pred == test.y).mean(axis=0)
    assert accuracy.min() > 0.85, accuracy  # chance is 1/3


def test_grouped_classifier_ensemble_trains_and_averages_logits():
    train, test = _direction_task(n=1200)
    model = build_ensemble("gru", _cfg("gru"), seed=0, size=2)
    assert model.grouped
    fit_model(model, train, test, TrainConfig(epochs=2, batch_size=64), seed=0, device="cpu")
    x = torch.as_tensor(np.array(test.x[:4]))
    with torch.no_grad():
        members = torch.stack([m(x).y_hat for m in model.members])
        assert torch.allclose(model(x).y_hat, members.mean(0), atol=1e-5)
    assert predict_windows(model, test).shape == (len(test), 2, 3)
