"""Hyper-parameters of every qseq model, importable without torch (the CLI, the model catalogue
and the parameter counts read them; the modules in :mod:`qseq.models` build from them)."""

from __future__ import annotations

from dataclasses import dataclass

from qseq.errors import ConfigError

ATTENTION_SCORES = ("dot", "general", "concat")  # Luong scores, ModelConfig.attention


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters handed to every model constructor.

    input_size:   F, features per time step
    horizons:     H, number of forecast horizons (outputs per window)
    hidden_size:  recurrent state width
    num_layers:   stacked recurrent layers
    dropout:      dropout between stacked layers (no effect with one layer)
    n_tickers:    ticker vocabulary size; > 1 adds a ticker embedding
    ticker_dim:   width of the ticker embedding joined to every time step
    quantiles:    empty for point forecasts, else increasing levels in (0, 1); the output is
                  then [B, H, Q] and non-crossing by construction
    future_size:  known-future inputs per horizon (calendar features) for seq2seq decoders
    attention:    Luong attention score (dot | general | concat)
    lookback:     window length T, for models whose shape depends on it (DA-RNN); 0 = any
    highway:      recurrent forecasters: add a linear map of the last bar's F inputs to the
                  output (LSTNet's autoregressive highway), so the network learns a
                  correction to a linear model that extrapolates past the training range
    classes:      0 for regression; C >= 2 makes every horizon a C-class classification and
                  the output logits [B, H, C] (order-book direction: down, stationary, up)
    book_levels:  L when the first 4 L inputs are an order book in LOBSTER column order (ask
                  price, ask size, bid price, bid size per level); models that need that
                  layout (DeepLOB) read it, the others ignore it
    mask_steps:   masked autoencoders (``masked_*_ae``): trailing bars whose inputs are masked,
                  so the last bar is predicted from the bars up to ``mask_steps`` before it
                  (1: from the bar just before it); the other models ignore it
    """

    input_size: int
    horizons: int
    hidden_size: int = 64
    num_layers: int = 2
    dropout: float = 0.0
    n_tickers: int = 1
    ticker_dim: int = 8
    quantiles: tuple[float, ...] = ()
    future_size: int = 0
    attention: str = "general"
    lookback: int = 0
    highway: bool = False
    classes: int = 0
    book_levels: int = 0
    mask_steps: int = 1

    def __post_init__(self) -> None:
        for name in ("input_size", "horizons", "hidden_size", "num_layers", "n_tickers",
                     "mask_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"model {name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model dropout must be in [0, 1), got {self.dropout}")
        if self.n_tickers > 1 and self.ticker_dim < 1:
            raise ConfigError(f"ticker_dim must be >= 1 for {self.n_tickers} tickers")
        qs = tuple(float(q) for q in self.quantiles)
        object.__setattr__(self, "quantiles", qs)
        if qs and (any(not 0 < q < 1 for q in qs) or list(qs) != sorted(set(qs))):
            raise ConfigError(f"quantiles must be distinct, increasing and in (0, 1), got {list(qs)}")
        if self.future_size < 0:
            raise ConfigError(f"future_size must be >= 0, got {self.future_size}")
        if self.classes == 1 or self.classes < 0 or not isinstance(self.classes, int):
            raise ConfigError(f"classes must be 0 (regression) or >= 2, got {self.classes!r}")
        if self.classes and qs:
            raise ConfigError("a model has quantiles or classes, not both")
        if self.book_levels < 0 or 4 * self.book_levels > self.input_size:
            raise ConfigError(f"book_levels {self.book_levels} needs 4 x {self.book_levels} "
                              f"order-book inputs, but the model has {self.input_size}")
        if self.attention not in ATTENTION_SCORES:
            raise ConfigError(f"unknown attention {self.attention!r}; choose one of "
                              f"{list(ATTENTION_SCORES)}")

