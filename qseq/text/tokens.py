"""Return tokenizer: daily log returns -> integer tokens and back.

``ReturnTokenizer(n_bins=128).fit(train_returns)`` cuts the real line at the training
quantiles ``k / n_bins`` (k = 1 .. n_bins - 1), so each bin holds about the same number of
training days. Token ids: the special tokens first (``PAD`` = 0, ``BOS`` = 1, ``EOS`` = 2 by
default), then bin ``i`` (0-based, in increasing order of return) is token ``n_specials + i``.

Decoding maps a bin back to a value in the units of the input (log returns, not percent):

- ``decode(tokens)``: the bin's representative, the **median of the training values that fell
  in the bin** (so ``decode(encode(x)) == x`` for a bin's own representative);
- ``decode(tokens, sample=True, generator=rng)``: a draw uniform on the bin's interval, whose
  outer limits are the training minimum / maximum for the two end bins: a smooth (piecewise
  uniform) distribution instead of a lattice of medians.

Everything fitted (edges, representatives, bounds) comes from the training values only; values
outside the training range fall in the end bins.

:class:`EwmaScale` optionally standardises returns first (``z_t = r_t / sigma_t``, a RiskMetrics
EWMA volatility known before day t), so that tokens describe returns relative to the current
volatility; sampled ``z`` paths are turned back into returns with the volatility updated along
each path.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from qseq.errors import ConfigError, DataError, NotFittedError

log = logging.getLogger(__name__)
__all__ = ["EwmaScale", "ReturnTokenizer", "SPECIAL_TOKENS"]

SPECIAL_TOKENS = ("PAD", "BOS", "EOS")
_FORMAT = 1  # to_dict layout version
_KEYS = {"format", "n_bins", "specials", "edges", "values", "low", "high"}


class ReturnTokenizer:
    """Quantile-bin tokenizer of real values (daily log returns).

    Parameters: ``n_bins`` requested bins (64-512 is the useful range for a few thousand days;
    any value >= 2 is accepted); ``specials`` names of the special tokens, ids 0 .. S-1, which
    must include PAD, BOS and EOS.

    Fitted attributes: ``edges_`` [n_bins_ - 1] inner bin edges (bin i is ``(edges_[i-1],
    edges_[i]]``), ``values_`` [n_bins_] representatives (training medians per bin), ``low_`` /
    ``high_`` [n_bins_] the interval each bin samples from, ``n_bins_`` the bins kept (tied
    training quantiles are merged, so it can be below ``n_bins``).
    """

    def __init__(self, n_bins: int = 128, *, specials: tuple[str, ...] = SPECIAL_TOKENS) -> None:
        if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 2:
            raise ConfigError(f"n_bins must be an integer >= 2 (64-512 is typical), got {n_bins!r}")
        specials = tuple(specials)
        missing = [s for s in SPECIAL_TOKENS if s not in specials]
        if missing or len(set(specials)) != len(specials):
            raise ConfigError(f"specials must be distinct and include {list(SPECIAL_TOKENS)}; "
                              f"got {list(specials)}")
        self.n_bins = int(n_bins)
        self.specials = specials

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, train_returns: np.ndarray) -> ReturnTokenizer:
        """Fit the bins on ``train_returns`` (any shape, flattened; log returns). Returns self."""
        x = _finite(train_returns, "fit")
        if x.size < self.n_bins:
            raise DataError(f"need at least n_bins={self.n_bins} training values to fit the bins, "
                            f"got {x.size}; use fewer bins or more training days")
        inner = np.quantile(x, np.arange(1, self.n_bins) / self.n_bins)
        edges = np.unique(inner)
        if edges.size < inner.size:
            log.warning("%d of %d quantile edges tied in the training data and were merged; "
                        "%d bins remain", inner.size - edges.size, inner.size, edges.size + 1)
        bins = np.searchsorted(edges, x, side="left")  # bin i: edges[i-1] < x <= edges[i]
        n = edges.size + 1
        values = np.empty(n)
        low = np.empty(n)
        high = np.empty(n)
        for i in range(n):
            members = x[bins == i]
            lo = edges[i - 1] if i > 0 else x.min()
            hi = edges[i] if i < n - 1 else x.max()
            values[i] = np.median(members) if members.size else 0.5 * (lo + hi)
            low[i], high[i] = lo, hi
        self.edges_, self.values_, self.low_, self.high_ = edges, values, low, high
        self.n_bins_ = n
        return self

    # -- ids -----------------------------------------------------------------------------------
    @property
    def n_specials(self) -> int:
        return len(self.specials)

    @property
    def pad_id(self) -> int:
        return self.specials.index("PAD")

    @property
    def bos_id(self) -> int:
        return self.specials.index("BOS")

    @property
    def eos_id(self) -> int:
        return self.specials.index("EOS")

    @property
    def vocab_size(self) -> int:
        """Special tokens plus bins."""
        self._check_fitted()
        return self.n_specials + self.n_bins_

    def special_id(self, name: str) -> int:
        """The id of the special token ``name``."""
        if name not in self.specials:
            raise ConfigError(f"unknown special token {name!r}; choose one of {list(self.specials)}")
        return self.specials.index(name)

    # -- encode / decode -----------------------------------------------------------------------
    def encode(self, returns: np.ndarray) -> np.ndarray:
        """Tokens (int64, same shape) of ``returns`` (log returns); NaN or inf raise DataError."""
        self._check_fitted()
        x = np.asarray(returns, dtype=np.float64)
        bad = ~np.isfinite(x)
        if bad.any():
            where = np.argwhere(bad)[0].tolist()
            raise DataError(f"cannot tokenize non-finite returns ({int(bad.sum())} of {x.size}, "
                            f"first at index {where}); drop or fill them first")
        return np.searchsorted(self.edges_, x, side="left").astype(np.int64) + self.n_specials

    def decode(self, tokens: np.ndarray, *, sample: bool = False,
               generator: np.random.Generator | None = None) -> np.ndarray:
        """Values (float64 log returns, same shape) of bin ``tokens``.

        Without ``sample`` each bin gives its training median; with ``sample`` a uniform draw on
        the bin's interval from ``generator`` (default: a fresh ``default_rng(0)``). Special
        tokens or ids outside the vocabulary raise DataError.
        """
        self._check_fitted()
        t = np.asarray(tokens)
        if not np.issubdtype(t.dtype, np.integer):
            raise DataError(f"tokens must be integers, got dtype {t.dtype}")
        idx = t.astype(np.int64) - self.n_specials
        bad = (idx < 0) | (idx >= self.n_bins_)
        if bad.any():
            first = int(t[bad].ravel()[0])
            what = (f"special token {self.specials[first]}" if 0 <= first < self.n_specials
                    else f"id {first}")
            raise DataError(f"cannot decode {what}: only bin tokens {self.n_specials}.."
                            f"{self.vocab_size - 1} map to returns")
        if not sample:
            return self.values_[idx]
        rng = np.random.default_rng(0) if generator is None else generator
        u = rng.random(idx.shape)
        return self.low_[idx] + u * (self.high_[idx] - self.low_[idx])

    # -- persistence ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fitted state (for a checkpoint's config.json)."""
        self._check_fitted()
        return {"format": _FORMAT, "n_bins": self.n_bins, "specials": list(self.specials),
                "edges": self.edges_.tolist(), "values": self.values_.tolist(),
                "low": self.low_.tolist(), "high": self.high_.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReturnTokenizer:
        """Rebuild a fitted tokenizer from :meth:`to_dict` output; unknown or missing keys raise."""
        unknown, missing = set(data) - _KEYS, _KEYS - set(data)
        if unknown or missing:
            raise DataError(f"tokenizer state: unknown keys {sorted(unknown)}, missing keys "
                            f"{sorted(missing)}; expected {sorted(_KEYS)}")
        if data["format"] != _FORMAT:
            raise DataError(f"tokenizer state format {data['format']} is not {_FORMAT}")
        tok = cls(int(data["n_bins"]), specials=tuple(data["specials"]))
        tok.edges_ = np.asarray(data["edges"], dtype=np.float64)
        tok.values_ = np.asarray(data["values"], dtype=np.float64)
        tok.low_ = np.asarray(data["low"], dtype=np.float64)
        tok.high_ = np.asarray(data["high"], dtype=np.float64)
        tok.n_bins_ = tok.values_.size
        if not (tok.edges_.size == tok.n_bins_ - 1 == tok.low_.size - 1 == tok.high_.size - 1):
            raise DataError(f"tokenizer state: {tok.edges_.size} edges for {tok.n_bins_} bins")
        return tok

    def _check_fitted(self) -> None:
        if not hasattr(self, "edges_"):
            raise NotFittedError("this ReturnTokenizer is not fitted; call "
                                 "fit(train_returns) first")

    def __repr__(self) -> str:
        fitted = f", n_bins_={self.n_bins_}" if hasattr(self, "n_bins_") else ""
        return f"ReturnTokenizer(n_bins={self.n_bins}{fitted})"


class EwmaScale:
    """RiskMetrics volatility: ``sigma_{t+1}^2 = lam sigma_t^2 + (1 - lam) r_t^2``, started at
    the training variance (``var0_``, the only fitted value). ``lam`` 0.94 is RiskMetrics'
    daily decay (half-life about 11 days)."""

    def __init__(self, lam: float = 0.94) -> None:
        if not 0 < lam < 1:
            raise ConfigError(f"lam must be in (0, 1), got {lam!r}")
        self.lam = float(lam)

    def fit(self, train_returns: np.ndarray) -> EwmaScale:
        """Set the starting variance to that of ``train_returns`` (log returns). Returns self."""
        self.var0_ = float(np.var(_finite(train_returns, "fit")))
        return self

    def standardize(self, returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(z [L], sigma [L + 1])`` for daily returns [L]: ``sigma[t]`` uses returns before
        day t only (``sigma[L]`` is the next day's), ``z[t] = returns[t] / sigma[t]``."""
        if not hasattr(self, "var0_"):
            raise NotFittedError("this EwmaScale is not fitted; call fit(train_returns) first")
        r = _finite(returns, "standardize")
        var = np.empty(r.size + 1)
        var[0] = self.var0_
        for t in range(r.size):  # a recursion: L steps of scalar arithmetic
            var[t + 1] = self.lam * var[t] + (1 - self.lam) * r[t] ** 2
        sigma = np.sqrt(var)
        return r / sigma[:-1], sigma

    def rescale_paths(self, z_paths: np.ndarray, sigma_next: np.ndarray) -> np.ndarray:
        """Return paths [N, M, H] from standardised paths [N, M, H] and each origin's next-day
        volatility [N] (``sigma[o + 1]`` of :meth:`standardize`), the volatility updated along
        each path by the same recursion."""
        z = np.asarray(z_paths, dtype=np.float64)
        var = np.repeat(np.asarray(sigma_next, dtype=np.float64)[:, None] ** 2, z.shape[1], 1)
        out = np.empty_like(z)
        for h in range(z.shape[2]):
            out[:, :, h] = z[:, :, h] * np.sqrt(var)
            var = self.lam * var + (1 - self.lam) * out[:, :, h] ** 2
        return out


def _finite(values: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    bad = ~np.isfinite(x)
    if bad.any():
        raise DataError(f"{what}: {int(bad.sum())} of {x.size} returns are NaN or inf (first at "
                        f"index {int(np.flatnonzero(bad)[0])}); drop or fill them first")
    if x.size == 0:
        raise DataError(f"{what}: no returns given")
    return x
