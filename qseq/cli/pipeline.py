"""``qseq backtest`` (an ad-hoc walk-forward run) and ``qseq pipeline run | list | serve``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from rich.console import Console

from qseq.cli.options import config_from_options, config_options
from qseq.config import CostsConfig, ForecastConfig, StrategyConfig, WalkForwardConfig
from qseq.errors import QseqError

console = Console(width=None if sys.stdout.isatty() else 160)


class Workers(click.ParamType):
    """A worker count: an integer >= 1, or ``auto`` (one per usable CPU, at most one per task)."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "auto":
            return value
        try:
            count = int(value)
        except ValueError:
            count = 0
        if count < 1:
            self.fail(f"{value!r} is not a worker count; give an integer >= 1 or 'auto'", param, ctx)
        return count


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time of each record."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


def _log_progress() -> None:
    """Progress lines (one per finished fold) on stdout, as they happen: what a cron or systemd
    log shows while a pipeline runs (stderr stays for the one-line error). Added once."""
    logger = logging.getLogger("qseq")
    logger.setLevel(logging.INFO)
    if not any(isinstance(h, _StdoutHandler) for h in logger.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
        logger.addHandler(handler)


def _model_table(rows, title: str, metrics: tuple[str, ...], fmt: str) -> None:
    """Print one row per model of the tidy metric ``rows`` (model, metric, value)."""
    from rich.table import Table

    wide = rows.pivot_table(index="model", columns="metric", values="value", aggfunc="first")
    cols = [c for c in metrics if c in wide.columns]
    table = Table(title=title)
    table.add_column("model")
    for c in cols:
        table.add_column(c, justify="right")
    for model, values in wide[cols].to_dict(orient="index").items():
        table.add_row(str(model), *["n/a" if values[c] != values[c] else fmt.format(values[c])
                                    for c in cols])
    console.print(table)
    if wide[cols].isna().any().any():
        console.print("n/a: does not apply (a zero forecast takes no side; a book that never "
                      "trades has no Sharpe)", style="dim")


def _print_summary(outcome) -> None:
    from rich.table import Table

    m = outcome.metrics
    man = outcome.manifest
    if man.get("kind") == "order_book":
        from qseq.cli.lob import _table

        data = man["data"]
        console.print(f"[bold]data[/bold]: {data['source']}"
                      + (" [bold](SYNTHETIC)[/bold]" if data["synthetic"] else "")
                      + f", {data['events']:,} events")
        console.print(_table("order-book model and baselines", m))
        console.print(f"[bold]verdict[/bold]: {outcome.verdict}\nwritten to {outcome.run_dir}")
        return
    console.print(f"[bold]data[/bold]: {man['data']['source']} ({man['data']['detail']}), "
                  f"{man['data']['first_date']} to {man['data']['last_date']}, "
                  f"{len(man['data']['tickers'])} tickers")
    for note in man["data"]["notes"]:
        console.print(f"[yellow]note[/yellow]: {note}")
    fc = m[(m["kind"] == "forecast") & (m["horizon"] == m[m["kind"] == "forecast"]["horizon"].min())]
    _model_table(fc, f"out-of-sample forecasts, first horizon ({man['folds']} folds)",
                 ("n", "mse", "mae", "dir_acc", "dir_ci_low", "dir_ci_high", "pt_pvalue", "ic",
                  "rank_ic", "rank_ic_t", "fold_corr", "qlike"),
                 "{:.4g}")
    forecasts = m[m["kind"] == "forecast"]
    if "qlike" in set(forecasts["metric"]):  # volatility targets: the loss at every horizon
        q = forecasts[forecasts["metric"] == "qlike"].pivot_table(
            index="model", columns="horizon", values="value", aggfunc="first")
        hs = sorted(q.columns, key=int)
        table = Table(title="QLIKE by horizon (lower is better)")
        table.add_column("model")
        for h in hs:
            table.add_column(f"h={h}", justify="right")
        for model, *values in q[hs].itertuples():
            table.add_row(str(model), *[f"{v:.4f}" for v in values])
        console.print(table)
        yearly = m[m["kind"] == "yearly"]
        rivals = [b for b in yearly["benchmark"].unique() if b != "random_walk" and b in q.index]
        if rivals:
            ref = min(rivals, key=lambda b: q.loc[b, hs[0]])  # the strongest at the first horizon
            y = yearly[yearly["benchmark"] == ref].pivot_table(
                index="metric", columns="horizon", values="value", aggfunc="first")[hs]
            table = Table(title=f"loss / {ref} loss per calendar year (< 1: model wins)")
            table.add_column("year")
            for h in hs:
                table.add_column(f"h={h}", justify="right")
            for year, *values in y.itertuples():
                table.add_row(str(year), *[f"{v:.3f}" for v in values])
            console.print(table)
    dm = m[(m["kind"] == "dm") & (m["metric"].isin(["dm_stat", "dm_pvalue"]))]
    if not dm.empty:
        t = dm.pivot_table(index=["benchmark", "horizon"], columns="metric", values="value").reset_index()
        t = t.sort_values(["benchmark", "horizon"], key=lambda c: c.map(
            lambda v: int(v) if str(v).isdigit() else v))
        loss = "QLIKE" if "qlike" in set(forecasts["metric"]) else "squared loss"
        table = Table(title=f"Diebold-Mariano ({loss}; stat < 0: model better)")
        for c in ("benchmark", "horizon", "dm_stat", "dm_pvalue"):
            table.add_column(c, justify="right")
        for r in t.itertuples(index=False):
            table.add_row(str(r.benchmark), str(r.horizon), f"{r.dm_stat:+.3f}", f"{r.dm_pvalue:.3f}")
        console.print(table)
    st = m[m["kind"] == "strategy"]
    if not st.empty:
        _model_table(st, "strategy after costs (positions act on the next bar)",
                     ("ann_return", "ann_vol", "sharpe", "sortino", "max_drawdown", "calmar",
                      "turnover", "hit_rate"), "{:.3f}")
    if outcome.verdict:
        console.print(f"[bold]skill[/bold]: {outcome.verdict}")
    console.print(f"[bold]run[/bold]: {outcome.run_dir} (report.html, forecasts.parquet, "
                  "metrics.parquet, importance.parquet, manifest.json)")


@click.command("backtest")
@click.option("--ticker", "tickers", multiple=True, help="Ticker(s); repeat for a panel.")
@click.option("--dataset", help="Bundled dataset name instead of tickers (e.g. stocks5).")
@click.option("--data", "data_path", type=click.Path(dir_okay=False), help="CSV/Parquet price file.")
@config_options(ForecastConfig)
@config_options(WalkForwardConfig)
@config_options(StrategyConfig, prefix="strategy-")
@config_options(CostsConfig, prefix="cost-")
@click.option("--baselines", default="buy_and_hold,random_walk,ar", show_default=True)
@click.option("--start", help="First date (YYYY-MM-DD).")
@click.option("--as-of", help="Last date used (YYYY-MM-DD).")
@click.option("--engine", default="local", show_default=True, type=click.Choice(["local", "ray"]))
@click.option("--workers", default="1", show_default=True, type=Workers(),
              help="Processes (local) or Ray workers; 'auto': one per CPU, for full refits.")
@click.option("--offline", is_flag=True)
@click.option("--out", "out_dir", default="reports", show_default=True, type=click.Path(file_okay=False))
def backtest(**o) -> None:
    """Walk-forward backtest without a spec file (writes the same run folder as a pipeline)."""
    import dataclasses

    from qseq.data.cache import normalize_ticker
    from qseq.pipeline.run import run_pipeline
    from qseq.pipeline.spec import DataSection, EngineSection, PipelineSpec, WalkForwardSection

    given = [k for k in ("tickers", "dataset", "data_path") if o[k]]
    if len(given) != 1:
        raise click.UsageError("give --ticker (repeatable), --dataset or --data")
    forecaster = config_from_options(ForecastConfig, o)
    folds = config_from_options(WalkForwardConfig, o)
    strategy = config_from_options(StrategyConfig, o, prefix="strategy-")
    costs = config_from_options(CostsConfig, o, prefix="cost-")
    data = {"start": o["start"]}
    if o["tickers"]:
        data["tickers"] = tuple(normalize_ticker(t) for t in o["tickers"])
        label = "_".join(data["tickers"])[:40]
    elif o["dataset"]:
        data["dataset"], label = o["dataset"], o["dataset"]
    else:
        data["path"], label = o["data_path"], Path(o["data_path"]).stem
    name = "".join(c if c.isalnum() or c in "_-" else "_"
                   for c in f"backtest_{label}_{forecaster.model}".lower())
    spec = PipelineSpec(
        name=name, data=DataSection(**data), forecaster=forecaster,
        walk_forward=WalkForwardSection(**dataclasses.asdict(folds)), strategy=strategy, costs=costs,
        baselines=tuple(b.strip() for b in o["baselines"].split(",") if b.strip()),
        engine=EngineSection(kind=o["engine"], workers=o["workers"]))
    _log_progress()
    outcome = run_pipeline(spec, as_of=o["as_of"], out_root=o["out_dir"], offline=o["offline"])
    _print_summary(outcome)


@click.group("pipeline")
def pipeline() -> None:
    """Backtest pipelines from YAML specs (pipelines/*.yaml)."""


@pipeline.command("run")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--as-of", help="Run as of this date (default: the last date in the data).")
@click.option("--out", "out_dir", default="reports", show_default=True, type=click.Path(file_okay=False))
@click.option("--engine", type=click.Choice(["local", "ray"]), help="Override the spec's engine.")
@click.option("--workers", type=Workers(), help="Override the spec's worker count (N or 'auto').")
@click.option("--offline", is_flag=True, help="Never touch the network (cache, bundled, files).")
def pipeline_run(spec: str, as_of: str | None, out_dir: str, engine: str | None, workers: int | str | None,
                 offline: bool) -> None:
    """Run SPEC once (walk-forward, strategy, baselines, importance, report)."""
    from qseq.pipeline.run import run_pipeline

    _log_progress()
    outcome = run_pipeline(spec, as_of=as_of, out_root=out_dir, offline=offline, engine=engine,
                           workers=workers)
    _print_summary(outcome)


@pipeline.command("list")
@click.option("--dir", "spec_dir", default="pipelines", show_default=True, type=click.Path(file_okay=False))
def pipeline_list(spec_dir: str) -> None:
    """The specs in DIR with their model, data and schedule (invalid specs say why)."""
    from rich.table import Table

    from qseq.pipeline.run import list_specs

    table = Table(title=f"pipelines in {spec_dir}")
    for c in ("name", "model", "data", "target", "refit", "schedule", "status"):
        table.add_column(c)
    bad = 0
    for path, spec, error in list_specs(spec_dir):
        if spec is None:
            bad += 1
            table.add_row(path.stem, "", "", "", "", "", f"[red]{error}[/red]")
            continue
        sched = f"{spec.schedule.cron} ({spec.schedule.timezone})" if spec.schedule.cron else "-"
        if getattr(spec, "kind", None) == "order_book":
            table.add_row(spec.name, spec.lob.model, spec.source.describe(), spec.lob.target,
                          f"{spec.blocks} blocks" if spec.blocks else "one split", sched, "ok")
            continue
        target = spec.data.target
        table.add_row(spec.name, spec.forecaster.model,
                      ", ".join(target) if isinstance(target, list) else target,
                      spec.forecaster.target,
                      f"{spec.walk_forward.refit} / {spec.walk_forward.test_bars} bars",
                      sched, "ok")
    console.print(table)
    if bad:
        raise QseqError(f"{bad} invalid spec(s) in {spec_dir}; fix the keys named above")


@pipeline.command("serve")
@click.option("--dir", "spec_dir", default="pipelines", show_default=True, type=click.Path(file_okay=False))
@click.option("--out", "out_dir", default="reports", show_default=True, type=click.Path(file_okay=False))
@click.option("--offline", is_flag=True)
@click.option("--now", is_flag=True, help="Also run every scheduled spec once at start-up.")
def pipeline_serve(spec_dir: str, out_dir: str, offline: bool, now: bool) -> None:
    """Run every spec on its cron schedule in this process until interrupted (Ctrl-C)."""
    from qseq.pipeline.serve import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    console.print(f"serving the scheduled pipelines in {spec_dir} (Ctrl-C to stop)")
    serve(spec_dir, out_dir, offline=offline, now=now)
