"""``qseq data list | fetch | validate``."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from qseq.data import bundled, cache
from qseq.data.sources import collect_prices
from qseq.data.validate import validate_panel
from qseq.data.yahoo import fetch_yahoo
from qseq.errors import DataError, SourceError


def list_data(console: Console) -> None:
    table = Table(title="bundled datasets (offline)")
    for col in ("dataset", "tickers", "start", "end", "bars", "description"):
        table.add_column(col)
    for name, spec in bundled.DATASETS.items():
        panel = bundled.load_dataset(name)
        dates = panel.index.get_level_values("date")
        tick = panel.index.get_level_values("ticker").unique()
        shown = ", ".join(tick[:6]) + (f" ... ({len(tick)})" if len(tick) > 6 else "")
        table.add_row(name, shown, str(dates.min().date()), str(dates.max().date()),
                      f"{len(panel):,}", spec.description + (f"; {spec.notes}" if spec.notes else ""))
    console.print(table)
    for proxy, (inner, note) in bundled.PROXIES.items():
        console.print(f"{proxy} -> {inner}: {note}")
    entries = cache.cache_entries()
    if not entries:
        console.print(f"cache ({cache.cache_dir()}): empty; 'qseq data fetch TICKER' fills it")
        return
    table = Table(title=f"cache ({cache.cache_dir()})")
    for col in ("ticker", "start", "end", "bars", "status"):
        table.add_column(col)
    problems: list[str] = []
    for ticker, path in entries:
        try:
            frame = cache.read_cache_file(path, ticker)
        except DataError as exc:  # one bad file must not hide the good ones
            problems.append(str(exc))
            table.add_row(escape(ticker), "-", "-", "-", "[red]unreadable[/red] (see below)")
            continue
        dates = frame.index.get_level_values("date")
        table.add_row(escape(ticker), str(dates.min().date()), str(dates.max().date()),
                      f"{len(frame):,}", "ok")
    console.print(table)
    for problem in problems:
        console.print(f"[red]bad cache file[/red]: {escape(problem)}", soft_wrap=True)


def fetch_data(console: Console, tickers: tuple[str, ...], start: str | None,
               end: str | None) -> None:
    keys = [cache.normalize_ticker(t) for t in tickers]
    failed: list[str] = []
    with Progress(console=console) as progress:
        task = progress.add_task("downloading", total=len(keys))
        for key in keys:
            try:
                panel = fetch_yahoo(key, start=start, end=end)
            except SourceError as exc:
                failed.append(f"{key}: {exc}")
            else:
                validate_panel(panel)
                path = cache.write_cache(key, panel)
                dates = panel.index.get_level_values("date")
                progress.console.print(f"{key}: {len(panel)} bars {dates.min().date()} to "
                                       f"{dates.max().date()} -> {path}")
            progress.advance(task)
    if failed:
        raise SourceError(f"{len(failed)} of {len(keys)} downloads failed; " + "; ".join(failed))


def validate_data(console: Console, target: str, source: str, offline: bool) -> None:
    """Report on the data as the source provides it, before any repair policy."""
    panel = collect_prices(target, source=source, offline=offline, raw=True)
    report = validate_panel(panel, raise_on_error=False)
    for issue in report.issues:  # before the per-ticker table, which can run to hundreds of rows
        console.print(f"[red]issue[/red]: {escape(issue.message())}", soft_wrap=True)
    table = Table(title=f"validation of {target} ({panel.attrs.get('source')})")
    for col in ("ticker", "rows", "start", "end"):
        table.add_column(col)
    for ticker, rows, start, end in report.summary.reset_index().itertuples(index=False):
        table.add_row(escape(str(ticker)), str(rows), str(start.date()), str(end.date()))
    console.print(table)
    if report.ok:
        console.print("[green]ok[/green]: no issues")
        return
    raise DataError(f"{target}: {len(report.issues)} validation issues (listed before the table)")
