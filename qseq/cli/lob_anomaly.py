"""``qseq lob anomaly``: inject spoofing / layering and quote-stuffing episodes into an order
book's message stream and score the reconstruction autoencoder against rolling z-score,
IsolationForest and PCA on the same features (:func:`qseq.lob.anomaly.evaluate_lob_anomalies`).
Heavy imports happen inside the command."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qseq.cli.lob import source_options
from qseq.cli.options import config_from_options, config_options, debug_option
from qseq.config import LOB_ANOMALY_KINDS, LobAnomalyConfig
from qseq.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from qseq.lob.anomaly_data import MessageStream


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{what} must be whole numbers like 0,1,2; got {text!r}") from None
    if not values or min(values) < 0:
        raise ConfigError(f"{what} must be one or more whole numbers >= 0, like 0,1,2; got "
                          f"{text!r}")
    return values


@click.command("anomaly")
@source_options
@click.option("--inject", "kinds", default=",".join(LOB_ANOMALY_KINDS), show_default=True,
              help=f"Kinds injected, comma-separated ({', '.join(LOB_ANOMALY_KINDS)}).")
@click.option("--seeds", default="0,1,2", show_default=True, help="Injection seeds.")
@click.option("--episodes", default=20, show_default=True, type=int,
              help="Episodes of each kind per seed, in the test period.")
@click.option("--size-multiple", default=10.0, show_default=True, type=float,
              help="Spoof order size in median submissions.")
@click.option("--burst-orders", default=50, show_default=True, type=int,
              help="Submit/delete pairs per quote-stuffing burst.")
@config_options(LobAnomalyConfig)
@click.option("--out", "out_path", type=click.Path(dir_okay=False),
              help="Where the PR-AUC table goes (.csv or .parquet; default "
                   "reports/lob_anomaly_<source>.csv); the per-seed rows go beside it "
                   "(<name>_runs.<ext>).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@debug_option
def anomaly_cmd(kinds: str, seeds: str, episodes: int, size_multiple: float, burst_orders: int,
                out_path: str | None, device: str, **opts: Any) -> None:
    """Evaluate order-book anomaly detectors on injected spoofing / layering and quote-stuffing
    episodes: PR-AUC per kind and method (autoencoder, rolling z-score, IsolationForest, PCA).
    Sources: --synthetic, --bitstamp-sample or --level3 (a LOBSTER pair cannot be injected into:
    its book file holds only the best levels)."""
    from qseq.cli.lob import _source
    from qseq.cli.main import console
    from qseq.lob.anomaly_data import message_stream

    config = config_from_options(LobAnomalyConfig, opts)
    stream = message_stream(_source(opts), config.levels)
    run_lob_anomaly(console, stream, config, kinds=tuple(k.strip() for k in kinds.split(",")
                                                         if k.strip()),
                    seeds=_ints(seeds, "--seeds"), episodes=episodes, size_multiple=size_multiple,
                    burst_orders=burst_orders, out_path=Path(out_path) if out_path else None,
                    device=device)


def run_lob_anomaly(console: Console, stream: MessageStream, config: LobAnomalyConfig, *,
                    kinds: tuple[str, ...], seeds: tuple[int, ...], episodes: int,
                    size_multiple: float, burst_orders: int, out_path: Path | None,
                    device: str) -> tuple[Path, Path]:
    """Evaluate, print the PR-AUC table and write it (and the per-seed rows) atomically;
    returns (table path, rows path)."""
    from qseq.cli.lob import _slug
    from qseq.lob.anomaly import evaluate_lob_anomalies, summary

    if out_path is None:
        out_path = Path("reports") / f"lob_anomaly_{_slug(stream.source)}.csv"
    if out_path.suffix not in (".csv", ".parquet"):
        raise ConfigError(f"--out must end in .csv or .parquet, got {out_path.name}")
    label = " [bold](SYNTHETIC)[/bold]" if stream.synthetic else " (real)"
    console.print(f"data: {stream.source}{label}, {len(stream.messages):,} messages; injecting "
                  f"{', '.join(kinds)} x {episodes} per seed, seeds {list(seeds)}")
    results = evaluate_lob_anomalies(stream, config, kinds=kinds, seeds=seeds, episodes=episodes,
                                     size_multiple=size_multiple, burst_orders=burst_orders,
                                     device=device)
    table = summary(results)
    scored = results.attrs["scored"]
    console.print(f"scored: {len(scored)} of {len(results.attrs['features'])} inputs "
                  f"(score_on {config.score_on}: {', '.join(scored)})")
    what = "SYNTHETIC stream" if stream.synthetic else "real stream"
    console.print(pr_auc_table(table, f"PR-AUC on injected episodes, {what} ({stream.source}); "
                                      f"mean over {len(seeds)} seed(s)"))
    runs = out_path.with_name(f"{out_path.stem}_runs{out_path.suffix}")
    flat = table.reset_index().assign(source=stream.source, synthetic=stream.synthetic)
    write_frame(flat, out_path)
    write_frame(results.assign(source=stream.source, synthetic=stream.synthetic), runs)
    console.print(f"table: {out_path}\nper seed: {runs}")
    return out_path, runs


def pr_auc_table(table: pd.DataFrame, title: str) -> Table:
    """A rich table: methods (rows) x kinds (columns), mean +- sd over seeds, and chance."""
    from rich.table import Table

    from qseq.anomaly.evaluate import METHODS

    out = Table(title=title)
    out.add_column("method")
    for kind in table.index:
        out.add_column(str(kind), justify="right")
    multi = "autoencoder sd" in table.columns and table["autoencoder sd"].notna().any()
    for method in (m for m in METHODS if m in table.columns):
        cells = [f"{table.at[k, method]:.3f}" + (f" ± {table.at[k, f'{method} sd']:.3f}"
                                                  if multi else "") for k in table.index]
        out.add_row(method, *cells)
    out.add_row("chance", *(f"{table.at[k, 'chance']:.3f}" for k in table.index), style="dim")
    return out


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as CSV or Parquet (by suffix), atomically."""
    from qseq._io import atomic_path

    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False)
    return path
