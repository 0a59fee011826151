"""``qseq models``: the registry as a table, with parameter counts worked out without torch
(:meth:`qseq.models.ModelSpec.parameter_count`)."""

from __future__ import annotations

from dataclasses import replace

from rich.console import Console
from rich.table import Table

from qseq.models import ModelConfig, get_spec, list_models


def print_models(console: Console, features: int, horizon: int, hidden_size: int, layers: int,
                 lookback: int, book_levels: int = 10) -> None:
    """Every registered model. Order-book-only models are counted on a book of ``book_levels``
    levels (4 inputs each) plus ``features`` derived inputs, with 3 classes."""
    cfg = ModelConfig(input_size=features, horizons=horizon, hidden_size=hidden_size,
                      num_layers=layers, lookback=lookback)
    book_cfg = replace(cfg, input_size=4 * book_levels + features, book_levels=book_levels,
                       classes=3)
    table = Table(title=f"models (features={features}, horizon={horizon}, "
                        f"hidden={hidden_size}, layers={layers}, lookback={lookback}; "
                        f"order-book-only models: {book_levels} levels + {features} features, "
                        "3 classes)")
    for col in ("model", "kind", "parameters", "streams", "attention", "calendar inputs",
                "order books", "description"):
        table.add_column(col)
    yes = {True: "yes", False: "no"}
    for name in list_models(kind=None):
        spec = get_spec(name, kind=None)
        attn = "temporal + feature" if spec.feature_attention else yes[spec.attention]
        only = spec.kind == "order_book"
        count = spec.parameter_count(book_cfg if only else cfg)
        table.add_row(name, spec.kind, f"{count:,}", yes[spec.streams], attn,
                      yes[spec.future_inputs], "only" if only else "yes", spec.description)
    console.print(table)
