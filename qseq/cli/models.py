"""``qseq models``: the registry as a table, with parameter counts worked out without torch
(:meth:`qseq.models.ModelSpec.parameter_count`)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from qseq.models import ModelConfig, get_spec, list_models


def print_models(console: Console, features: int, horizon: int, hidden_size: int, layers: int,
                 lookback: int) -> None:
    cfg = ModelConfig(input_size=features, horizons=horizon, hidden_size=hidden_size,
                      num_layers=layers, lookback=lookback)
    table = Table(title=f"models (features={features}, horizon={horizon}, "
                        f"hidden={hidden_size}, layers={layers}, lookback={lookback})")
    for col in ("model", "kind", "parameters", "streams", "attention", "calendar inputs",
                "description"):
        table.add_column(col)
    yes = {True: "yes", False: "no"}
    for name in list_models(kind=None):
        spec = get_spec(name, kind=None)
        attn = "temporal + feature" if spec.feature_attention else yes[spec.attention]
        table.add_row(name, spec.kind, f"{spec.parameter_count(cfg):,}", yes[spec.streams], attn,
                      yes[spec.future_inputs], spec.description)
    console.print(table)
