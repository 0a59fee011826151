"""Parameter counts of the registered model families, worked out from :class:`ModelConfig`
without torch (``qseq models`` prints them; ``tests/models/test_param_counts.py`` checks every
registered model against ``sum(p.numel() for p in build_model(...).parameters())``).

The building blocks, with g the gate count (RNN 1, GRU 3, LSTM 4) and h the hidden size:

    linear(i -> o)            i*o (+ o with bias)
    recurrent layer (i -> h)  g*h*(i + h) + 2*g*h         per direction; torch keeps b_ih and b_hh
    peephole LSTM layer       the LSTM layer + 3*h        (p_i, p_f, p_o)
    recurrent cell (i -> h)   one unidirectional layer
    ticker embedding          n_tickers * ticker_dim      only when n_tickers > 1

Each ``count_*`` function mirrors one model class and takes the same keywords as its
constructor; :data:`PARAMETER_COUNTS` maps the registry's "module:Class" to it.
"""

from __future__ import annotations

from collections.abc import Callable

from qseq.errors import ConfigError
from qseq.models.config import ModelConfig

GATES = {"rnn": 1, "gru": 3, "lstm": 4, "lstm_peephole": 4}
DEEPLOB_CONV_CHANNELS = 16  # C, the convolution blocks (the paper: 32)
DEEPLOB_INCEPTION_CHANNELS = 32  # I, each inception branch (the paper: 64)


def linear(in_dim: int, out_dim: int, bias: bool = True) -> int:
    return in_dim * out_dim + (out_dim if bias else 0)


def recurrent_cell(cell: str, in_dim: int, hidden: int) -> int:
    """One layer, one direction (``nn.GRUCell`` and friends, or one layer of ``nn.GRU``)."""
    gates = GATES[cell] * hidden
    peepholes = 3 * hidden if cell == "lstm_peephole" else 0
    return gates * (in_dim + hidden) + 2 * gates + peepholes


def recurrent_stack(cell: str, in_dim: int, config: ModelConfig, bidirectional: bool = False) -> int:
    """``make_rnn``: ``num_layers`` stacked layers; layers above the first read h * directions."""
    dirs = 2 if bidirectional else 1
    hid = config.hidden_size
    return sum(dirs * recurrent_cell(cell, in_dim if k == 0 else hid * dirs, hid)
               for k in range(config.num_layers))


def ticker_embedding(config: ModelConfig) -> int:
    return config.n_tickers * config.ticker_dim if config.n_tickers > 1 else 0


def _ticker_width(config: ModelConfig) -> int:
    """Width the ticker embedding adds to each step (0 for a one-ticker model)."""
    return config.ticker_dim if config.n_tickers > 1 else 0


def _embedded_input(config: ModelConfig) -> int:
    """Width of each encoder step: F features plus the ticker embedding."""
    return config.input_size + _ticker_width(config)


def outputs_per_horizon(config: ModelConfig) -> int:
    """1 for point forecasts, Q with quantiles, C with classes."""
    return max(len(config.quantiles), config.classes, 1)


def forecast_head(in_dim: int, horizons: int, config: ModelConfig) -> int:
    """``ForecastHead``: a linear layer to H outputs, times Q with quantiles (C with classes)."""
    return linear(in_dim, horizons * outputs_per_horizon(config))


def attention_layer(query_dim: int, key_dim: int, score: str, attn_dim: int | None = None) -> int:
    """``Attention``: additive and concat have a score vector v; dot has no parameters."""
    attn_dim = attn_dim or key_dim
    if score == "additive":
        return linear(query_dim, attn_dim, bias=False) + linear(key_dim, attn_dim) + attn_dim
    if score == "general":
        return linear(key_dim, query_dim, bias=False)
    if score == "concat":
        return linear(query_dim + key_dim, attn_dim) + attn_dim
    return 0  # dot


def decoder(config: ModelConfig, cell: str, attention_kind: str | None, key_dim: int) -> int:
    """``Decoder``: one cell fed the previous output (+ known-future inputs, + context or the
    Luong attentional state), a one-step head, and the learned start value."""
    hid = config.hidden_size
    in_dim, out_dim, extra = 1 + config.future_size, hid, 0
    if attention_kind == "bahdanau":
        extra = attention_layer(hid, key_dim, "additive", hid)
        in_dim += key_dim
        out_dim = hid + key_dim
    elif attention_kind == "luong":
        extra = attention_layer(hid, key_dim, config.attention, hid) + linear(hid + key_dim, hid)
        in_dim += hid  # input feeding
    cell = "lstm" if cell == "lstm_peephole" else cell  # the decoder steps a plain LSTMCell
    return extra + recurrent_cell(cell, in_dim, hid) + forecast_head(out_dim, 1, config) + 1


def count_recurrent_forecaster(config: ModelConfig, cell: str = "gru", bidirectional: bool = False) -> int:
    dirs = 2 if bidirectional else 1
    highway = (linear(config.input_size, config.horizons * outputs_per_horizon(config))
               if config.highway else 0)
    return (ticker_embedding(config)
            + recurrent_stack(cell, _embedded_input(config), config, bidirectional)
            + forecast_head(config.hidden_size * dirs, config.horizons, config) + highway)


def count_seq2seq(config: ModelConfig, cell: str = "gru", attention: str | None = None) -> int:
    return (ticker_embedding(config) + recurrent_stack(cell, _embedded_input(config), config)
            + decoder(config, cell, attention, config.hidden_size))


def count_dual_stage_attention(config: ModelConfig, cell: str = "lstm") -> int:
    if config.lookback < 1:  # the input attention's width is the window length
        raise ConfigError("da_rnn needs the window length: set ModelConfig(lookback=...)")
    hid = config.hidden_size
    state_dim = 2 * hid if cell == "lstm" else hid  # the query is [h; c] for an LSTM
    input_attention = (linear(state_dim, hid, bias=False) + linear(config.lookback, hid)
                       + linear(hid, 1, bias=False))
    return (ticker_embedding(config) + recurrent_cell(cell, _embedded_input(config), hid)
            + input_attention + decoder(config, cell, "bahdanau", hid))


def count_recurrent_autoencoder(config: ModelConfig, cell: str = "lstm", attention: bool = False,
                                mask_last: bool = False) -> int:
    hid, emb = config.hidden_size, _ticker_width(config)
    return (ticker_embedding(config)
            + recurrent_stack(cell, config.input_size + emb, config)  # encoder
            + recurrent_stack(cell, hid + emb, config)  # decoder, fed the code z ++ e
            + (attention_layer(hid, hid, "additive") if attention else 0)
            + linear(hid * (2 if attention else 1), config.input_size))


def count_deeplob(config: ModelConfig) -> int:
    """``DeepLOB``: three convolution blocks (a spatial conv, then two causal 4 x 1), the
    inception branches, an LSTM over [conv features, derived inputs, ticker], the head."""
    c, i = DEEPLOB_CONV_CHANNELS, DEEPLOB_INCEPTION_CHANNELS
    if config.book_levels < 1:
        raise ConfigError("deeplob needs ModelConfig.book_levels >= 1 (order-book inputs)")
    conv2d = lambda cin, cout, kh, kw: cin * cout * kh * kw + cout  # noqa: E731
    blocks = sum(conv2d(cin, c, 1, kw) + 2 * conv2d(c, c, 4, 1) + 3 * 2 * c  # + batch norms
                 for cin, kw in ((1, 2), (c, 2), (c, config.book_levels)))
    inception = (3 * conv2d(c, i, 1, 1) + conv2d(i, i, 3, 1) + conv2d(i, i, 5, 1)
                 + 5 * 2 * i)  # + batch norms
    lstm_in = 3 * i + config.input_size + _ticker_width(config)  # conv features + raw inputs
    return (blocks + inception + ticker_embedding(config)
            + recurrent_cell("lstm", lstm_in, config.hidden_size)
            + forecast_head(config.hidden_size, config.horizons, config))


PARAMETER_COUNTS: dict[str, Callable[..., int]] = {
    "qseq.models.recurrent:RecurrentForecaster": count_recurrent_forecaster,
    "qseq.models.seq2seq:Seq2SeqForecaster": count_seq2seq,
    "qseq.models.seq2seq:DualStageAttentionForecaster": count_dual_stage_attention,
    "qseq.models.autoencoder:RecurrentAutoencoder": count_recurrent_autoencoder,
    "qseq.models.deeplob:DeepLOB": count_deeplob,
}
