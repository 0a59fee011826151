"""``qseq forecast``: load, fit or reuse, print the forecast, write the report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from qseq.cli.options import (
    config_from_options,
    config_options,
    data_options,
    debug_option,
    fit_options,
)
from qseq.config import ForecastConfig

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from qseq.forecaster import Forecaster


@click.command("forecast")
@click.option("--ticker", help="Ticker to forecast (SPY uses the bundled S&P 500 proxy offline); "
                               "with --data, names a single-ticker file's series.")
@click.option("--data", "data_path", type=click.Path(dir_okay=False),
              help="CSV/Parquet price file instead of a ticker source.")
@config_options(ForecastConfig)
@data_options
@fit_options("model")
@debug_option
def forecast(**opts) -> None:
    """Fit (or reuse) a model and forecast the next bars."""
    from qseq.cli.main import console, err_console

    config = config_from_options(ForecastConfig, opts)
    run_forecast(console, err_console, config, **opts)


def _load(opts: dict) -> tuple[pd.DataFrame, str]:
    from qseq.data.cache import normalize_ticker
    from qseq.data.sources import load_prices
    from qseq.errors import ConfigError

    ticker, path = opts["ticker"], opts["data_path"]
    if not ticker and not path:
        raise ConfigError("give --ticker SYMBOL or --data PATH")
    policies = {"nan_policy": opts["nan_policy"], "ohlc_policy": opts["ohlc_policy"]}
    if path:
        panel = load_prices(Path(path), opts["start"], opts["end"], source="file",
                            ticker=ticker or None, **policies)
        tickers = list(panel.index.get_level_values("ticker").unique())
        if len(tickers) > 1:
            raise ConfigError(f"{path} holds {len(tickers)} tickers; pick one with --ticker")
        return panel, tickers[0]
    key = normalize_ticker(ticker)  # --ticker is never read as a path
    panel = load_prices(key, opts["start"], opts["end"], source=opts["source"],
                        offline=opts["offline"], **policies)
    return panel, key


def run_forecast(console: Console, err_console: Console, config: ForecastConfig, **opts) -> None:
    import shutil

    from qseq.checkpoint import input_files, settings_key
    from qseq.cli.reuse import reuse_saved
    from qseq.config import to_dict
    from qseq.data.cache import encode_ticker
    from qseq.forecaster import Forecaster, panel_fingerprint

    panel, ticker = _load(opts)
    dates = panel.index.get_level_values("date")
    source = panel.attrs.get("source", "?")
    console.print(f"[bold]data[/bold]: {ticker} from {source} "
                  f"({panel.attrs.get('detail', '')}), {dates.min().date()} to "
                  f"{dates.max().date()}, {len(panel)} bars")
    for note in panel.attrs.get("notes", []):
        console.print(f"[yellow]note[/yellow]: {note}")

    forecaster = Forecaster(config, device=opts["device"])
    if config.future_features:
        console.print("[bold]known-future inputs[/bold]: "
                      f"{', '.join(config.future_features)} of each forecast date "
                      f"({config.exchange} calendar), fed to the decoder")
    out_dir = Path(opts["out_dir"])
    settings = {"data": panel_fingerprint(panel), "config": to_dict(config)}
    files = input_files(config)
    if files:  # keys of runs without such files stay as they were
        settings["files"] = files
    file_notes = [f"{name}: {getattr(config, name)} (sha256 {digest[:12]})"
                  for name, digest in files.items()]
    for note in file_notes:
        console.print(f"[bold]input[/bold]: {note}")
    key = settings_key(settings)
    ckpt = out_dir / "checkpoints" / f"{encode_ticker(ticker)}_{config.model}_{key}"
    saved = reuse_saved(console, ckpt, lambda p: Forecaster.load(p, device=opts["device"]),
                        opts["refit"], "model", warn_console=err_console)
    if saved is not None:
        forecaster = saved
    else:
        # An interrupted run (Ctrl-C, crash) resumes from here on the next identical command.
        state_dir = ckpt.with_name(ckpt.name + ".train-state")
        if opts["refit"] and state_dir.is_dir():
            shutil.rmtree(state_dir)
        forecaster.fit(panel, progress=True, resume_dir=state_dir)
        forecaster.save(ckpt)
        shutil.rmtree(state_dir, ignore_errors=True)
        r = forecaster.result_
        console.print(f"[bold]model[/bold]: {config.model} trained {len(r.history)} epochs, "
                      f"best epoch {r.best_epoch}; saved to {ckpt}")
    sd = forecaster.split_dates_
    console.print(f"[bold]split[/bold]: train {sd['train'][0]}..{sd['train'][1]}, "
                  f"val {sd['val'][0] if sd['val'] else '-'}..{sd['val'][1] if sd['val'] else '-'}"
                  f", test {sd['test'][0] if sd['test'] else '-'}.."
                  f"{sd['test'][1] if sd['test'] else '-'}")
    _print_metrics(console, forecaster)

    import pandas as pd

    latest = forecaster.predict(panel, last_only=True)
    last_date = pd.Timestamp(latest["date"].iloc[0])
    last_close = float(panel["close"].iloc[-1])
    path_table = _path_table(forecaster, latest, last_date, last_close)
    _print_path(console, forecaster, path_table, ticker, last_date, last_close)

    from qseq.report import forecast_report

    full = forecaster.predict(panel)
    val_range = sd["val"] or sd["train"]
    val = full[(full["date"] >= val_range[0]) & (full["date"] <= val_range[1])]
    report = out_dir / f"{encode_ticker(ticker)}_{config.model}_{last_date.date()}.html"
    notes = [f"data: {source} ({panel.attrs.get('detail', '')})", *panel.attrs.get("notes", []),
             *file_notes, f"skill: {forecaster.verdict()}"]
    metrics = forecaster.metrics_.get("val", forecaster.metrics_.get("test"))
    forecast_report(title=f"{ticker} {config.model} forecast as of {last_date.date()}",
                    history=panel["close"].droplevel("ticker"), validation=val,
                    path_table=path_table, metrics=metrics, notes=notes, out=report)
    console.print(f"[bold]report[/bold]: {report}")


def _print_metrics(console: Console, forecaster: Forecaster) -> None:
    from rich.table import Table

    from qseq.metrics import VOL_TARGETS, loss_name

    target = forecaster.config.target
    vol = target in VOL_TARGETS
    naive = "persistence (last bar)" if vol else "random walk (zero)"
    for name, frame in forecaster.metrics_.items():
        nominal = frame["nominal"].iloc[0] if "nominal" in frame.columns else None
        table = Table(title=f"{name} metrics vs {naive} baseline",
                      caption=None if nominal is None else
                      f"coverage: share of outcomes inside the band (nominal {nominal:.0%})")
        if vol and "qlike_ratio" in frame.columns:
            cols = ["horizon", "n", "qlike", "baseline_qlike", "qlike_ratio", "mse_ratio"]
        else:
            cols = ["horizon", "n", "mse", "baseline_mse", "mse_ratio", "mae", "baseline_mae"]
        cols += [c for c in ("dm_pvalue", "dir_acc", "dir_ci_low", "pt_pvalue", "qlike", "coverage")
                 if c in frame.columns and c not in cols]
        heads = {"baseline_mse": "naive mse", "baseline_mae": "naive mae", "mse_ratio": "mse ratio",
                 "horizon": "h", "dm_pvalue": "DM p", "dir_ci_low": "dir 95% CI",
                 "pt_pvalue": "PT p", "baseline_qlike": "naive qlike", "qlike_ratio": "qlike ratio"}
        for c in cols:
            table.add_column(heads.get(c, c), justify="right")

        def cell(row: dict, c: str) -> str:
            value = row[c]
            if value != value:  # NaN: does not apply or too few dates
                return "n/a"
            if c == "n":
                return f"{int(value)}"
            if c == "dir_ci_low":
                return f"{value:.3f}..{row['dir_ci_high']:.3f}"
            if c in ("mse_ratio", "dir_acc", "coverage", "dm_pvalue", "pt_pvalue", "qlike",
                     "baseline_qlike", "qlike_ratio"):
                return f"{value:.3f}"
            return f"{value:.2e}"

        for h, row in zip(frame.index, frame.to_dict(orient="records"), strict=True):
            table.add_row(str(h), *[cell(row, c) for c in cols[1:]])
        console.print(table)
    note = f"DM p: Diebold-Mariano vs the naive forecast ({loss_name(target)})"
    if not vol:
        note += "; PT p: Pesaran-Timmermann, do the forecast's signs beat the base rates?"
    console.print(note, style="dim")
    console.print(f"[bold]skill[/bold]: {forecaster.verdict()}")


def _path_table(forecaster: Forecaster, latest: pd.DataFrame, last_date: pd.Timestamp,
                last_close: float) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    from qseq.calendar import next_trading_days

    hs = np.asarray(forecaster.config.horizons)
    days = next_trading_days(last_date, int(hs.max()), exchange=forecaster.config.exchange)
    out = pd.DataFrame({"date": days[hs - 1], "horizon": hs, "y_hat": latest["y_hat"].to_numpy()})
    q_cols = [c for c in latest.columns if c.startswith("q")]
    lo, hi = (q_cols[0], q_cols[-1]) if len(q_cols) >= 2 else (None, None)
    if lo:
        out["lo"], out["hi"] = latest[lo].to_numpy(), latest[hi].to_numpy()
        out.attrs["band"] = (lo[1:], hi[1:])
    target = forecaster.config.target
    if target == "log_return" and np.array_equal(hs, np.arange(1, len(hs) + 1)):
        out["cum_log_return"] = out["y_hat"].cumsum()
        out["price"] = last_close * np.exp(out["cum_log_return"])
    elif target == "cum_log_return":
        out["price"] = last_close * np.exp(out["y_hat"])
        if lo:  # quantiles of ln(P_{t+h}/P_t) map one-to-one onto price quantiles
            out["price_lo"] = last_close * np.exp(out["lo"])
            out["price_hi"] = last_close * np.exp(out["hi"])
    return out


def _print_path(console: Console, forecaster: Forecaster, table_df: pd.DataFrame, ticker: str,
                last_date: pd.Timestamp, last_close: float) -> None:
    from rich.table import Table

    target = forecaster.config.target
    label = {"log_return": "log return", "cum_log_return": "cum. log return",
             "realized_vol": "realized vol", "variance": "mean daily variance",
             "excess_log_return": "excess log return",
             "excess_cum_log_return": "excess cum. log return"}[target]
    fmt = "{:.3e}" if target == "variance" else "{:+.5f}"
    band = table_df.attrs.get("band")
    caption = None
    if band and "price_lo" not in table_df.columns and "price" in table_df.columns:
        caption = ("bands are per-bar return quantiles; for price bands use --target "
                   "cum_log_return")
    table = Table(title=f"{ticker} forecast from {last_date.date()} (close {last_close:,.2f})",
                  caption=caption)
    table.add_column("date")
    table.add_column("horizon", justify="right")
    table.add_column(f"forecast {label}" + (" (median)" if band else ""), justify="right")
    if band:
        table.add_column(f"q{band[0]} .. q{band[1]}", justify="right")
    has_price = "price" in table_df.columns
    if has_price:
        table.add_column("implied price", justify="right")
    if "price_lo" in table_df.columns:
        table.add_column(f"price q{band[0]} .. q{band[1]}", justify="right")
    if target == "variance":
        table.add_column("annualised vol", justify="right")
    for row in table_df.to_dict(orient="records"):
        cells = [str(row["date"].date()), str(row["horizon"]), fmt.format(row["y_hat"])]
        if band:
            cells.append(f"{fmt.format(row['lo'])} .. {fmt.format(row['hi'])}")
        if has_price:
            cells.append(f"{row['price']:,.2f}")
        if "price_lo" in row:
            cells.append(f"{row['price_lo']:,.2f} .. {row['price_hi']:,.2f}")
        if target == "variance":  # sqrt(252 x daily variance)
            cells.append(f"{(252 * row['y_hat']) ** 0.5:.1%}")
        table.add_row(*cells)
    console.print(table)
