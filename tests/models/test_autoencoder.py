"""The autoencoder contract over every registered autoencoder, parity with torch's reference
modules, and the registry's kinds (autoencoders never appear among the forecasters)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import qseq
from qseq.errors import ConfigError
from qseq.models import ModelConfig, build_model, get_spec, list_models
from qseq.models.autoencoder import RecurrentAutoencoder

NAMES = list_models(kind="autoencoder")


def _cfg(**kw) -> ModelConfig:
    base = dict(input_size=3, horizons=1, hidden_size=16, num_layers=2, n_tickers=1)
    base.update(kw)
    return ModelConfig(**base)


def _build(name, **kw):
    return build_model(name, _cfg(**kw), kind="autoencoder")


def test_registry_keeps_kinds_apart():
    assert {"lstm_ae", "gru_ae"} <= set(NAMES)
    assert not set(NAMES) & set(list_models())  # forecasters only by default
    assert set(list_models(kind=None)) == set(NAMES) | set(list_models()) | set(list_models("order_book"))
    with pytest.raises(ConfigError, match=r"'lstm_ae' is of kind 'autoencoder', not 'forecast'"):
        get_spec("lstm_ae")
    with pytest.raises(ConfigError, match=r"'gru' is of kind 'forecast', not 'autoencoder'"):
        get_spec("gru", kind="autoencoder")
    with pytest.raises(ConfigError, match=r"unknown autoencoder model 'vae'; choose one of \["):
        get_spec("vae", kind="autoencoder")
    with pytest.raises(ConfigError, match="unknown model kind 'vae'"):
        list_models(kind="vae")
    with pytest.raises(ConfigError, match="not 'forecast'"):
        qseq.Forecaster("gru_ae")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("steps", [5, 12])
def test_reconstruction_shape_and_finite(name, steps):
    torch.manual_seed(0)
    out = _build(name)(torch.randn(4, steps, 3))
    assert out.y_hat.shape == (4, steps, 3)
    assert torch.isfinite(out.y_hat).all()
    if get_spec(name, kind=None).attention:
        assert out.attention.shape == (4, steps, steps)
        assert torch.allclose(out.attention.sum(-1), torch.ones(4, steps))
    else:
        assert out.attention is None


@pytest.mark.parametrize("name", NAMES)
def test_ticker_embedding_conditions_the_reconstruction(name):
    torch.manual_seed(0)
    model = _build(name, n_tickers=3, ticker_dim=4)
    x = torch.randn(1, 10, 3).expand(3, -1, -1)
    y = model(x, torch.tensor([0, 1, 2])).y_hat
    assert not torch.allclose(y[0], y[1]) and not torch.allclose(y[1], y[2])
    assert model.embeddings().shape == (3, 4)
    with pytest.raises(ConfigError, match="ticker ids"):
        model(x, None)
    assert _build(name).embeddings() is None


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_model(name):
    x = torch.randn(2, 8, 3, generator=torch.Generator().manual_seed(1))
    outs = []
    for _ in range(2):
        torch.manual_seed(7)
        outs.append(_build(name).eval()(x).y_hat)
    assert torch.equal(outs[0], outs[1])


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_shape_names_expected_and_got(name):
    with pytest.raises(ConfigError, match=r"expected x of shape \[batch, time, 3\], got \[5, 8, 2\]"):
        _build(name)(torch.randn(5, 8, 2))


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_every_parameter(name):
    model = _build(name, n_tickers=2)
    out = model(torch.randn(6, 8, 3), torch.tensor([0, 1, 0, 1, 0, 1])).y_hat
    out.pow(2).mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("cell,ref_cls", [("lstm", nn.LSTM), ("gru", nn.GRU)])
def test_parity_with_a_hand_built_encoder_decoder(cell, ref_cls):
    """Same weights in torch modules wired by hand -> bitwise-equal reconstructions."""
    torch.manual_seed(3)
    model = RecurrentAutoencoder(_cfg(), cell=cell).eval()
    enc, dec = ref_cls(3, 16, 2, batch_first=True), ref_cls(16, 16, 2, batch_first=True)
    head = nn.Linear(16, 3)
    enc.load_state_dict(model.encoder.state_dict())
    dec.load_state_dict(model.decoder.state_dict())
    head.load_state_dict(model.output.state_dict())
    x = torch.randn(7, 11, 3)
    with torch.no_grad():
        out, state = enc(x)
        code = out[:, -1:].expand(-1, 11, -1)  # the last encoder output, fed at every step
        expected = head(dec(code, state)[0])
        assert torch.equal(model(x).y_hat, expected)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_masked_model_is_the_plain_one_on_the_window_with_its_last_bar_zeroed(cell):
    torch.manual_seed(5)
    masked = _build(f"masked_{cell}_ae", n_tickers=2).eval()
    plain = RecurrentAutoencoder(_cfg(n_tickers=2), cell=cell).eval()
    plain.load_state_dict(masked.state_dict())  # same parameters: masking adds none
    x, ticker = torch.randn(4, 9, 3), torch.tensor([0, 1, 1, 0])
    zeroed = x.clone()
    zeroed[:, -1] = 0
    with torch.no_grad():
        out = masked(x, ticker).y_hat
        assert torch.equal(out, plain(zeroed, ticker).y_hat)
        moved = x.clone()
        moved[:, -1] += 10.0
        assert torch.equal(masked(moved, ticker).y_hat, out)  # the last bar's inputs are unused
        assert not torch.equal(masked(x + 1.0, ticker).y_hat, out)  # earlier bars are


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_mask_steps_hides_the_last_bars_and_only_them(cell):
    torch.manual_seed(6)
    masked = _build(f"masked_{cell}_ae", mask_steps=3).eval()
    plain = RecurrentAutoencoder(_cfg(), cell=cell).eval()
    plain.load_state_dict(masked.state_dict())
    x = torch.randn(4, 9, 3)
    zeroed = x.clone()
    zeroed[:, -3:] = 0
    with torch.no_grad():
        out = masked(x).y_hat
        assert torch.equal(out, plain(zeroed).y_hat)
        moved = x.clone()
        moved[:, -3:] += 10.0
        assert torch.equal(masked(moved).y_hat, out)  # the last 3 bars' inputs are unused
        moved = x.clone()
        moved[:, -4] += 10.0
        assert not torch.equal(masked(moved).y_hat[:, -1], out[:, -1])  # the 4th-last bar is
        with pytest.raises(ConfigError, match="window of 3 bars with mask_steps 3 has no unmasked"):
            masked(x[:, :3])
    with pytest.raises(ConfigError, match="mask_steps 8 leaves no unmasked bar in a window of 8"):
        _build(f"masked_{cell}_ae", mask_steps=8, lookback=8)
    with pytest.raises(ConfigError, match="mask_steps must be a positive integer"):
        _cfg(mask_steps=0)
