"""One contract test over every registered model, plus parity with torch's reference modules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qseq.errors import ConfigError
from qseq.models import MODELS, ModelConfig, build_model, get_spec, list_models
from qseq.models.recurrent import RecurrentForecaster

NAMES = list_models()


def _cfg(**kw) -> ModelConfig:
    base = dict(input_size=3, horizons=4, hidden_size=16, num_layers=2, n_tickers=1, lookback=12)
    base.update(kw)
    return ModelConfig(**base)


def test_registry_has_the_recurrent_family():
    assert {"rnn", "lstm", "gru"} <= set(NAMES)
    assert NAMES == sorted(MODELS)


@pytest.mark.parametrize("name", NAMES)
def test_output_shape_and_finite(name):
    torch.manual_seed(0)
    model = build_model(name, _cfg())
    out = model(torch.randn(5, 12, 3))
    assert out.y_hat.shape == (5, 4)
    assert torch.isfinite(out.y_hat).all()


@pytest.mark.parametrize("name", NAMES)
def test_ticker_embedding_changes_output_per_ticker(name):
    torch.manual_seed(0)
    model = build_model(name, _cfg(n_tickers=3, ticker_dim=4))
    x = torch.randn(1, 12, 3).expand(3, -1, -1)
    y = model(x, torch.tensor([0, 1, 2])).y_hat
    assert y.shape == (3, 4)
    assert not torch.allclose(y[0], y[1]) and not torch.allclose(y[1], y[2])
    with pytest.raises(ConfigError, match="ticker ids"):
        model(x, None)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_model_and_output(name):
    x = torch.randn(4, 12, 3, generator=torch.Generator().manual_seed(1))
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        outs.append(build_model(name, _cfg()).eval()(x).y_hat)
    assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_shape_names_expected_and_got(name):
    model = build_model(name, _cfg())
    with pytest.raises(ConfigError, match=r"expected x of shape \[batch, time, 3\], got \[5, 12, 2\]"):
        model(torch.randn(5, 12, 2))


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name):
    model = build_model(name, _cfg(n_tickers=2))
    model(torch.randn(6, 12, 3), torch.tensor([0, 1, 0, 1, 0, 1])).y_hat.pow(2).mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


def test_unknown_model_lists_valid_names():
    with pytest.raises(ConfigError, match=r"unknown model 'transformer'; choose one of \["):
        get_spec("transformer")


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="no effect with num_layers=1"):
        RecurrentForecaster(_cfg(num_layers=1, dropout=0.2), cell="gru")


@pytest.mark.parametrize("bad", [dict(hidden_size=0), dict(num_layers=-1), dict(dropout=1.0),
                                 dict(horizons=0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ConfigError):
        _cfg(**bad)


@pytest.mark.parametrize("cell,ref_cls", [("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)])
def test_parity_with_torch_reference(cell, ref_cls):
    """Same weights in a hand-built torch module + linear head -> bitwise-equal forecasts."""
    torch.manual_seed(3)
    model = RecurrentForecaster(_cfg(num_layers=2), cell=cell).eval()
    ref = ref_cls(3, 16, num_layers=2, batch_first=True)
    head = nn.Linear(16, 4)
    ref.load_state_dict(model.rnn.state_dict())
    head.load_state_dict(model.head.state_dict())
    x = torch.randn(7, 20, 3)
    with torch.no_grad():
        out, _ = ref(x)
        expected = head(out[:, -1])
        assert torch.equal(model(x).y_hat, expected)
