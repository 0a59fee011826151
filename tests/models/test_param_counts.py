"""The analytic parameter counts (``qseq models``, no torch) equal the built models' counts
exactly, for every registered model of every kind."""

from __future__ import annotations

import pytest

from qseq.models import ModelConfig, build_model, get_spec, list_models
from qseq.models.sizes import PARAMETER_COUNTS

NAMES = list_models(kind=None)
CONFIGS = {
    "small": dict(input_size=3, horizons=4, hidden_size=16, num_layers=2, lookback=12),
    "one_layer": dict(input_size=2, horizons=1, hidden_size=8, num_layers=1, lookback=5),
    "three_layers": dict(input_size=5, horizons=7, hidden_size=12, num_layers=3, lookback=20),
    "quantiles": dict(input_size=3, horizons=4, hidden_size=16, num_layers=2, lookback=12,
                      quantiles=(0.1, 0.5, 0.9)),
    "tickers": dict(input_size=4, horizons=3, hidden_size=10, num_layers=2, lookback=9,
                    n_tickers=7, ticker_dim=5),
    "everything": dict(input_size=6, horizons=5, hidden_size=9, num_layers=3, lookback=15,
                       n_tickers=4, ticker_dim=3, quantiles=(0.25, 0.75), future_size=4),
    "luong_dot": dict(input_size=3, horizons=2, hidden_size=8, num_layers=1, lookback=6,
                      attention="dot"),
    "luong_concat": dict(input_size=3, horizons=2, hidden_size=8, num_layers=2, lookback=6,
                         attention="concat", future_size=2),
    "classes": dict(input_size=9, horizons=3, hidden_size=8, num_layers=2, lookback=10, classes=3),
    "book": dict(input_size=43, horizons=3, hidden_size=12, num_layers=1, lookback=20, classes=3,
                 book_levels=10, n_tickers=2, ticker_dim=3),
}


@pytest.mark.parametrize("config", CONFIGS, ids=list(CONFIGS))
@pytest.mark.parametrize("name", NAMES)
def test_parameter_count_matches_the_built_model(name, config):
    spec = get_spec(name, kind=None)
    settings = dict(CONFIGS[config])
    if spec.kind == "order_book":  # these read the book layout: the first 4 L inputs
        if settings["input_size"] < 4:
            pytest.skip("an order-book model needs at least one level (4 inputs)")
        settings["book_levels"] = settings.get("book_levels") or settings["input_size"] // 4
    cfg = ModelConfig(**settings)
    built = sum(p.numel() for p in build_model(name, cfg, kind=None).parameters())
    assert spec.parameter_count(cfg) == built


def test_every_registered_class_has_a_formula():
    # a model registered without one still gets counted (by building it), but slowly and with torch
    assert {get_spec(n, kind=None).model for n in NAMES} <= set(PARAMETER_COUNTS)


def test_the_registry_covers_bidirectional_and_both_kinds():
    specs = [get_spec(n, kind=None) for n in NAMES]
    assert any(s.options.get("bidirectional") for s in specs)
    assert {s.kind for s in specs} == {"forecast", "autoencoder", "order_book"}
