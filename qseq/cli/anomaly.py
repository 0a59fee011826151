"""``qseq anomaly``: fit (or reuse) a recurrent autoencoder on a normal period, print the events
of one ticker and write the HTML report. Heavy imports happen inside the command."""

from __future__ import annotations

import click

from qseq.cli.options import (
    config_from_options,
    config_options,
    data_options,
    debug_option,
    fit_options,
)
from qseq.config import AnomalyConfig
from qseq.errors import ConfigError


@click.command("anomaly")
@click.option("--ticker", help="Ticker to report (SPY uses the bundled S&P 500 proxy offline).")
@click.option("--tickers", help="Comma-separated tickers or bundled datasets (e.g. sp500_524) "
                                "to train one model on; --ticker is added if missing.")
@click.option("--data", "data_path", type=click.Path(dir_okay=False),
              help="CSV/Parquet price file (one or many tickers) instead of a ticker source.")
@config_options(AnomalyConfig)
@data_options
@click.option("--top", default=30, show_default=True, type=int,
              help="Events printed (largest peaks); the report lists up to 200.")
@fit_options("detector")
@debug_option
def anomaly(**opts) -> None:
    """Detect anomalous bars with a recurrent autoencoder trained on a normal period."""
    from qseq.cli.main import console

    config = config_from_options(AnomalyConfig, opts)
    run_anomaly(console, config, **opts)


def _load_panel(opts: dict):
    """The panel to train on and the ticker to report."""
    from pathlib import Path

    from qseq.data.bundled import is_dataset_name
    from qseq.data.cache import normalize_ticker
    from qseq.data.sources import load_prices
    from qseq.errors import DataError

    policies = {"nan_policy": opts["nan_policy"], "ohlc_policy": opts["ohlc_policy"]}
    dates = (opts["start"], opts["end"])
    ticker = normalize_ticker(opts["ticker"]) if opts["ticker"] else None
    if opts["data_path"] and opts["tickers"]:
        raise ConfigError("give --tickers or --data, not both")
    if opts["data_path"]:
        panel = load_prices(Path(opts["data_path"]), *dates, source="file", **policies)
    elif opts["tickers"]:
        names = [normalize_ticker(t) for t in opts["tickers"].split(",") if t.strip()]
        if not names:
            raise ConfigError("--tickers is empty; list tickers like SPY,QQQ or a dataset name")
        if ticker is not None and ticker not in names and not any(map(is_dataset_name, names)):
            names.append(ticker)  # plain tickers: load --ticker with them in one go
        panel = load_prices(names, *dates, source=opts["source"], offline=opts["offline"],
                            **policies)
        if ticker is not None and ticker not in set(panel.index.get_level_values("ticker")):
            # the listed datasets do not hold --ticker: load it beside them
            panel = load_prices([*names, ticker], *dates, source=opts["source"],
                                offline=opts["offline"], **policies)
    elif ticker is not None:
        panel = load_prices(ticker, *dates, source=opts["source"], offline=opts["offline"],
                            **policies)
    else:
        raise ConfigError("give --ticker SYMBOL, --tickers A,B,... or --data PATH")
    tickers = list(panel.index.get_level_values("ticker").unique())
    if ticker is None:
        if len(tickers) > 1:
            raise ConfigError(f"the data hold {len(tickers)} tickers; pick the one to report "
                              "with --ticker")
        ticker = tickers[0]
    elif ticker not in tickers:
        raise DataError(f"ticker {ticker} is not in the data; it has {sorted(tickers)[:20]}")
    return panel, ticker


def _cache_key(panel, detector) -> str:
    from qseq.checkpoint import input_files, settings_key
    from qseq.config import to_dict
    from qseq.forecaster import panel_fingerprint

    settings = {"data": panel_fingerprint(panel), "config": to_dict(detector.config)}
    if files := input_files(detector.config):  # keys without such files stay as they were
        settings["files"] = files
    return settings_key(settings)


def _sectors():
    from qseq.data.bundled import load_sectors

    try:
        table = load_sectors()
    except OSError:
        return None
    return table.drop_duplicates("ticker").set_index("ticker")["sector"]


def run_anomaly(console, config: AnomalyConfig, **opts) -> None:
    from pathlib import Path

    import pandas as pd
    from rich.table import Table

    from qseq.anomaly import AnomalyDetector
    from qseq.anomaly.evaluate import neighbour_purity
    from qseq.anomaly.report import anomaly_report
    from qseq.cli.reuse import reuse_saved
    from qseq.data.cache import encode_ticker
    from qseq.data.validate import drop_short_tickers

    panel, ticker = _load_panel(opts)
    panel, short = drop_short_tickers(panel, config.lookback + 2, keep=(ticker,))
    dates = panel.index.get_level_values("date")
    n_tickers = panel.index.get_level_values("ticker").nunique()
    console.print(f"[bold]data[/bold]: {n_tickers} ticker(s) from {panel.attrs.get('source', '?')} "
                  f"({panel.attrs.get('detail', '')}), {dates.min().date()} to "
                  f"{dates.max().date()}, {len(panel)} bars")
    for note in panel.attrs.get("notes", []):
        console.print(f"[yellow]note[/yellow]: {note}")
    if short:
        console.print(f"[yellow]note[/yellow]: left out {len(short)} ticker(s) with fewer than "
                      f"{config.lookback + 2} bars, too short for one window of "
                      f"{config.lookback}: {', '.join(short[:10])}"
                      + (", ..." if len(short) > 10 else ""))
    detector = AnomalyDetector(config, device=opts["device"])
    out_dir = Path(opts["out_dir"])
    name = f"{encode_ticker(ticker)}_{config.model}"
    ckpt = out_dir / "checkpoints" / f"anomaly_{name}_{_cache_key(panel, detector)}"
    saved = reuse_saved(console, ckpt, lambda p: AnomalyDetector.load(p, device=opts["device"]),
                        opts["refit"], "detector")
    if saved is not None:
        detector = saved
    else:
        detector.fit(panel, progress=True)
        detector.save(ckpt)
        r = detector.result_
        console.print(f"[bold]model[/bold]: {config.model} trained {len(r.history)} epochs, "
                      f"best epoch {r.best_epoch}; saved to {ckpt}")
    sd = detector.split_dates_
    span = {k: f"{v[0]}..{v[1]}" if v else "-" for k, v in sd.items()}
    console.print(f"[bold]normal period[/bold] (to {detector.train_end_}): train {span['train']}, "
                  f"val {span['val']}, calibration {span['calibration']}"
                  + (f", feature units {span['units']}" if span.get("units", "-") != "-" else "")
                  + "; later bars are scored out of sample")
    th = detector.threshold_
    tail = (f", GPD shape {th.shape:+.2f} over {th.peaks} peaks above {th.init:.3g}"
            if th.method == "pot" else "")
    console.print(f"[bold]threshold[/bold]: {th.value:.3g} ({th.method}, target false-alarm rate "
                  f"{th.target_far:g} per bar, {th.n_calibration} calibration bars{tail})")

    scores = detector.score(panel)
    later = pd.to_datetime(scores["date"]) > pd.Timestamp(detector.train_end_)
    if later.any():
        console.print(f"[bold]flagged[/bold]: {scores.loc[later, 'flag'].mean():.2%} of "
                      f"{int(later.sum())} bars after {detector.train_end_} (all tickers)")
    mine = scores[scores["ticker"] == ticker]
    events = detector.detect(scores=mine)
    _print_events(console, Table, events, ticker, opts["top"])

    embeddings = detector.embeddings()
    sectors = _sectors() if embeddings is not None else None
    if embeddings is not None and sectors is not None:
        labels = sectors.reindex(embeddings.index.astype(str))
        known = labels.notna().to_numpy()
        if known.sum() >= 10 and labels[known].nunique() > 1:
            purity = neighbour_purity(embeddings.to_numpy()[known], labels[known].to_numpy(), k=5)
            console.print(f"[bold]embeddings[/bold]: 5-nearest-neighbour sector purity "
                          f"{purity['purity']:.3f} vs chance {purity['chance']:.3f} over "
                          f"{int(known.sum())} tickers with a sector")
    close = panel.xs(ticker, level="ticker")["close"]
    last = pd.Timestamp(close.index.max()).date()
    report = out_dir / f"{name}_anomaly_{last}.html"
    anomaly_report(
        title=f"{ticker} anomalies ({config.model}, {th.method} threshold, target FAR "
              f"{th.target_far:g})",
        ticker=ticker, close=close, scores=mine, events=events, threshold=th.value,
        features=list(detector.config.features), train_end=detector.train_end_,
        embeddings=embeddings, sectors=sectors,
        notes=[f"data: {panel.attrs.get('source', '?')} {panel.attrs.get('detail', '')}",
               *panel.attrs.get("notes", []),
               f"normal period up to {detector.train_end_}: train {span['train']}, "
               f"calibration {span['calibration']}",
               f"score: {config.score_combine} over features of the bar's squared reconstruction "
               "error (as the last bar of its window) divided by the ticker's training mean and "
               f"by the mean of its previous {config.score_window} errors (causal; about 1 on a "
               "typical bar)" + (f", then by its 99th percentile on the normal bars of "
                                 f"{span['units']}" if config.score_combine == "calibrated"
                                 else ""),
               "dotted lines mark well-known market stress days for orientation; they are not "
               "labels and the picture is not a claim of accuracy"],
        out=report)
    console.print(f"[bold]report[/bold]: {report}")
    from qseq.anomaly.export import write_tables

    tables = write_tables(scores, detector.detect(scores=scores), th.value,
                          list(detector.config.features), report.with_suffix(""))
    console.print(f"[bold]tables[/bold]: {', '.join(str(p) for p in tables)} (every ticker)")


def _print_events(console, table_cls, events, ticker: str, top: int) -> None:
    import pandas as pd

    shown = events.nlargest(max(top, 0), "peak_score").sort_values("start")
    table = table_cls(title=f"{ticker}: {len(events)} events"
                      + (f" (the {len(shown)} largest shown)" if len(shown) < len(events) else ""))
    for col, just in (("start", "left"), ("end", "left"), ("bars", "right"), ("peak", "left"),
                      ("peak score", "right"), ("driven by", "left")):
        table.add_column(col, justify=just)
    for rec in shown.to_dict("records"):
        table.add_row(str(pd.Timestamp(rec["start"]).date()), str(pd.Timestamp(rec["end"]).date()),
                      str(rec["bars"]), str(pd.Timestamp(rec["peak_date"]).date()),
                      f"{rec['peak_score']:.1f}", rec["contributions"])
    console.print(table)
