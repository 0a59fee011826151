"""The model family beyond the contract: parity with torch reference modules, the peephole
cell against its equations, attention and quantile invariants, teacher forcing."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from qseq.errors import ConfigError
from qseq.models import ModelConfig, build_model
from qseq.models.attention import Attention
from qseq.models.peephole import PeepholeLSTM
from qseq.models.recurrent import RecurrentForecaster
from qseq.train import PinballLoss, TrainConfig, teacher_forcing_probability


def _cfg(**kw) -> ModelConfig:
    base = dict(input_size=3, horizons=4, hidden_size=16, num_layers=2, lookback=12)
    base.update(kw)
    return ModelConfig(**base)


@pytest.mark.parametrize("cell,ref_cls", [("rnn", nn.RNN), ("lstm", nn.LSTM), ("gru", nn.GRU)])
def test_bidirectional_parity_with_torch(cell, ref_cls):
    torch.manual_seed(0)
    model = RecurrentForecaster(_cfg(), cell=cell, bidirectional=True).eval()
    ref = ref_cls(3, 16, num_layers=2, batch_first=True, bidirectional=True)
    ref.load_state_dict(model.rnn.state_dict())
    head = nn.Linear(32, 4)
    head.load_state_dict(model.head.state_dict())
    x = torch.randn(5, 12, 3)
    with torch.no_grad():
        out, _ = ref(x)
        expected = head(torch.cat([out[:, -1, :16], out[:, 0, 16:]], dim=-1))
        assert torch.equal(model(x).y_hat, expected)


def test_peephole_with_zero_peepholes_matches_nn_lstm():
    torch.manual_seed(1)
    ours = PeepholeLSTM(3, 16, num_layers=2)
    ref = nn.LSTM(3, 16, num_layers=2, batch_first=True)
    state = {k: v for k, v in ours.state_dict().items() if not k.startswith("peephole")}
    ref.load_state_dict(state)
    with torch.no_grad():
        for k in range(2):
            getattr(ours, f"peephole_l{k}").zero_()
        x = torch.randn(4, 30, 3)
        h0 = torch.randn(2, 4, 16), torch.randn(2, 4, 16)
        got, (h, c) = ours(x, h0)
        want, (h_ref, c_ref) = ref(x, h0)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
    torch.testing.assert_close(h, h_ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(c, c_ref, atol=1e-6, rtol=0)


def test_peephole_cell_follows_its_equations():
    """A naive per-step reference written straight from Gers & Schmidhuber (2000)."""
    torch.manual_seed(2)
    cell = PeepholeLSTM(3, 5, num_layers=1)
    x = torch.randn(2, 7, 3)
    w_ih, w_hh = cell.weight_ih_l0, cell.weight_hh_l0
    b = cell.bias_ih_l0 + cell.bias_hh_l0
    p_i, p_f, p_o = cell.peephole_l0
    h = c = torch.zeros(2, 5)
    outs = []
    with torch.no_grad():
        for t in range(7):
            z = x[:, t] @ w_ih.T + h @ w_hh.T + b
            zi, zf, zg, zo = z.split(5, dim=1)
            i = torch.sigmoid(zi + p_i * c)
            f = torch.sigmoid(zf + p_f * c)
            c = f * c + i * torch.tanh(zg)
            o = torch.sigmoid(zo + p_o * c)
            h = o * torch.tanh(c)
            outs.append(h)
        got, _ = cell(x)
    torch.testing.assert_close(got, torch.stack(outs, 1), atol=1e-6, rtol=0)


def test_peephole_gradients_and_no_bidirectional():
    model = build_model("lstm_peephole", _cfg())
    model(torch.randn(3, 12, 3)).y_hat.sum().backward()
    assert model.rnn.peephole_l0.grad is not None and model.rnn.peephole_l0.grad.abs().sum() > 0
    with pytest.raises(ConfigError, match="no bidirectional"):
        RecurrentForecaster(_cfg(), cell="lstm_peephole", bidirectional=True)


@pytest.mark.parametrize("name,score", [("attn_seq2seq", "general"), ("luong_seq2seq", "dot"),
                                        ("luong_seq2seq", "general"), ("luong_seq2seq", "concat"),
                                        ("da_rnn", "general")])
def test_attention_weights_are_distributions(name, score):
    torch.manual_seed(0)
    model = build_model(name, _cfg(attention=score))
    out = model(torch.randn(6, 12, 3))
    assert out.y_hat.shape == (6, 4)
    assert out.attention.shape == (6, 4, 12)
    torch.testing.assert_close(out.attention.sum(-1), torch.ones(6, 4))
    assert (out.attention >= 0).all()
    if name == "da_rnn":
        assert out.feature_attention.shape == (6, 12, 3)
        torch.testing.assert_close(out.feature_attention.sum(-1), torch.ones(6, 12))


def test_dot_attention_known_answer():
    attn = Attention(4, 4, "dot")
    keys = torch.zeros(1, 5, 4)
    keys[0, 3] = torch.tensor([10.0, 0, 0, 0])
    context, w = attn(torch.tensor([[1.0, 0, 0, 0]]), keys)
    assert w.argmax().item() == 3 and w[0, 3] > 0.99
    torch.testing.assert_close(context, keys[:, 3] * w[0, 3])
    with pytest.raises(ConfigError, match="query_dim == key_dim"):
        Attention(3, 4, "dot")


@pytest.mark.parametrize("name", ["gru", "bilstm", "seq2seq", "attn_seq2seq", "da_rnn", "lstm_peephole"])
def test_quantile_outputs_never_cross(name):
    torch.manual_seed(0)
    model = build_model(name, _cfg(quantiles=(0.1, 0.5, 0.9)))
    y = model(torch.randn(16, 12, 3) * 5).y_hat
    assert y.shape == (16, 4, 3)
    assert (y[..., 1:] >= y[..., :-1]).all()


def test_pinball_loss_known_answer():
    loss = PinballLoss((0.1, 0.5, 0.9))
    y_hat = torch.tensor([[[-1.0, 0.0, 1.0]]])
    assert loss(y_hat, torch.zeros(1, 1)).item() == pytest.approx(0.2 / 3)
    with pytest.raises(ConfigError, match="increasing"):
        _cfg(quantiles=(0.9, 0.1))


@pytest.mark.parametrize("name", ["seq2seq", "attn_seq2seq", "luong_seq2seq", "da_rnn"])
def test_teacher_forcing_feeds_the_true_previous_value(name):
    torch.manual_seed(0)
    model = build_model(name, _cfg()).train()
    x = torch.randn(3, 12, 3)
    target = torch.randn(3, 4)
    bumped = target.clone()
    bumped[:, 0] += 5.0
    a = model(x, target=target, teacher_forcing=1.0).y_hat
    b = model(x, target=bumped, teacher_forcing=1.0).y_hat
    assert torch.equal(a[:, 0], b[:, 0]) and not torch.allclose(a[:, 1], b[:, 1])
    c = model(x, target=bumped, teacher_forcing=0.0).y_hat
    d = model(x).y_hat
    assert torch.equal(c, d)


def test_teacher_forcing_schedules_known_values():
    def p(kind, epoch, k=None, epochs=10):
        return teacher_forcing_probability(TrainConfig(epochs=epochs, teacher_forcing=kind,
                                                       teacher_forcing_k=k), epoch)
    assert p("inverse_sigmoid", 1) == pytest.approx(5 / 6)
    assert p("inverse_sigmoid", 11, k=5.0) == pytest.approx(5 / (5 + math.e**2))
    assert p("exponential", 3) == pytest.approx(0.85**2)
    assert p("linear", 1) == 1.0 and p("linear", 6) == pytest.approx(0.5) and p("linear", 11) == 0.0
    assert p("always", 7) == 1.0 and p("never", 1) == 0.0
    with pytest.raises(ConfigError, match="0 < k < 1"):
        TrainConfig(teacher_forcing="exponential", teacher_forcing_k=1.5)
    with pytest.raises(ConfigError, match="unknown teacher_forcing"):
        TrainConfig(teacher_forcing="sometimes")


def test_da_rnn_needs_the_window_length():
    with pytest.raises(ConfigError, match="lookback"):
        build_model("da_rnn", _cfg(lookback=0))
    with pytest.raises(ConfigError, match="windows of 12 bars"):
        build_model("da_rnn", _cfg())(torch.randn(2, 9, 3))
