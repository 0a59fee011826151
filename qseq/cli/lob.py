"""``qseq lob``: inspect order-book files, train and evaluate order-book models, replay a saved
model over an event file. Heavy imports happen inside the commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from qseq.cli.options import config_from_options, config_options, debug_option
from qseq.config import LobConfig


def source_options(func: Callable) -> Callable:
    """Where the book comes from (one of them): a LOBSTER pair, a level-3 capture, the real
    Bitstamp sample, or a synthetic book."""
    for decorate in reversed((
        click.option("--messages", type=click.Path(dir_okay=False),
                     help="LOBSTER message file (..._message_L.csv)."),
        click.option("--book", "book_file", type=click.Path(dir_okay=False),
                     help="Its order-book file (default: found from the message file's name)."),
        click.option("--level3", type=click.Path(dir_okay=False),
                     help="Level-3 order events (Bitstamp capture format: id, timestamp, "
                          "exchange_timestamp, price, volume, action, direction)."),
        click.option("--trades", type=click.Path(dir_okay=False),
                     help="The level-3 capture's trades file (cross-checks the book)."),
        click.option("--bitstamp-sample", is_flag=True,
                     help="The real Bitstamp BTC/USD 30-minute sample (needs the GPL package "
                          "ob-analytics==0.1.0 installed; read from it, never copied)."),
        click.option("--synthetic", type=int, default=0,
                     help="Generate a SYNTHETIC book of this many events (queue-reactive model)."),
        click.option("--synthetic-seed", type=int, default=0, help="Seed of the synthetic book."),
    )):
        func = decorate(func)
    return func


def _source(opts: dict):
    from qseq.lob.sources import BookSource

    return BookSource(messages=opts.pop("messages"), book=opts.pop("book_file"),
                      level3=opts.pop("level3"), trades=opts.pop("trades"),
                      bitstamp_sample=opts.pop("bitstamp_sample"), synthetic=opts.pop("synthetic"),
                      synthetic_seed=opts.pop("synthetic_seed"))


def _table(title: str, frame):
    """A rich table of a frame indexed by (k, method): integers as integers, NaN blank."""
    from rich.table import Table

    table = Table(title=title)
    for name in (*frame.index.names, *frame.columns):
        table.add_column(str(name), justify="left" if name in frame.index.names else "right")
    for key, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        cells = [("" if v != v else str(int(v)) if frame[c].dtype.kind in "iu" else f"{v:.4f}")
                 for c, v in zip(frame.columns, row, strict=True)]
        table.add_row(*(str(k) for k in key), *cells)
    return table


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:60].strip("_") or "book"


@click.group("lob")
def lob() -> None:
    """Limit-order books: LOBSTER files, level-3 captures, models and streams."""


@lob.command("inspect")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@source_options
@click.option("--levels", default=10, show_default=True, type=int, help="Book levels shown.")
@click.option("--out", "out_dir", default="reports", show_default=True,
              help="Directory for the HTML page.")
@debug_option
def inspect_cmd(files: tuple[str, ...], levels: int, out_dir: str, **opts) -> None:
    """Summarise and validate an order book and write a depth / mid-price / spread page.
    FILES: a LOBSTER message file (its order-book file is found by name) or a level-3 orders
    file; or use --messages/--level3/--bitstamp-sample/--synthetic."""
    from qseq.cli.main import console
    from qseq.errors import ConfigError

    if len(files) > 1:
        raise ConfigError("give one LOBSTER message file or one level-3 orders file")
    if files:
        key = "messages" if "_message_" in Path(files[0]).name else "level3"
        if opts.get(key):
            raise ConfigError(f"{files[0]} and --{key} both name the data; give one")
        opts[key] = files[0]
    source = _source(opts)
    run_inspect(console, source, levels, Path(out_dir))


def run_inspect(console, source, levels: int, out_dir: Path) -> None:
    from rich.table import Table

    from qseq.lob.report import book_summary, write_book_report
    from qseq.lob.sources import load_book

    book = load_book(source, levels)
    extra = {}
    if source.messages:
        from qseq.lob.lobster import lobster_report

        report = lobster_report(source.messages, source.book)
        extra = {f"lobster {k}": v for k, v in vars(report).items()}
    if book.extra.get("trades") is not None:
        from qseq.lob.level3 import check_trades

        check = check_trades(book, book.extra["trades"])
        extra.update({f"trades {k}": v for k, v in vars(check).items()
                      if not hasattr(v, "__len__") or isinstance(v, str)})
    summary = {**book_summary(book), **extra}
    table = Table(title=f"order book: {summary['source']}"
                        + (" (SYNTHETIC)" if book.synthetic else ""))
    table.add_column("field")
    table.add_column("value")
    for key, value in summary.items():
        table.add_row(key, f"{value:.6g}" if isinstance(value, float) else str(value))
    console.print(table)
    page = write_book_report(out_dir / f"lob_{_slug(summary['source'])}.html", book, extra)
    console.print(f"report: {page}")


@lob.command("synth")
@click.option("--events", required=True, type=int, help="Events to simulate.")
@click.option("--levels", default=10, show_default=True, type=int, help="Levels written.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--ticker", default="SYNTH", show_default=True, help="Ticker in the file names.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for the LOBSTER message and order-book files.")
@debug_option
def synth_cmd(events: int, levels: int, seed: int, ticker: str, out_dir: str) -> None:
    """Write a SYNTHETIC order book (queue-reactive zero-intelligence model) as LOBSTER files,
    with a _synthetic.json sidecar that labels it wherever it is read."""
    from qseq.cli.main import console
    from qseq.data.cache import normalize_ticker
    from qseq.errors import ConfigError
    from qseq.lob.lobster_write import write_lobster
    from qseq.lob.synthetic import simulate

    if events < 1 or levels < 1:
        raise ConfigError(f"--events and --levels must be >= 1, got {events} and {levels}")
    messages, book = simulate(events, levels=levels, seed=seed)
    paths = write_lobster(out_dir, messages, book, ticker=normalize_ticker(ticker))
    console.print("SYNTHETIC LOBSTER files:\n" + "\n".join(str(p) for p in paths))


@lob.command("train")
@source_options
@config_options(LobConfig)
@click.option("--blocks", default=0, show_default=True, type=int,
              help="Also refit on N chronological test blocks and report means with 95% intervals.")
@click.option("--out", "out_dir", default="reports", show_default=True,
              help="Directory for the HTML report and the checkpoint.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@debug_option
def train_cmd(blocks: int, out_dir: str, device: str, **opts) -> None:
    """Train an order-book model (direction classes or returns at k samples ahead) and score it
    against the majority class and an imbalance logistic regression on held-out blocks."""
    from qseq.cli.main import console

    config = config_from_options(LobConfig, opts)
    source = _source(opts)
    run_train(console, config, source, blocks=blocks, out_dir=Path(out_dir), device=device)


def _print_confusion(console, what: str, frame) -> None:
    """The model's and the logistic baseline's confusion per k (direction targets only)."""
    from rich.markup import escape

    from qseq.lob.evaluate import confusion_text

    for k, by_method in frame.attrs.get("confusion", {}).items():
        for method in ("model", "logistic_imbalance"):
            if method in by_method:
                console.print(f"confusion, {what}, k={k}, {method}:\n"
                              + escape(confusion_text(by_method[method])), soft_wrap=True)


def run_train(console, config: LobConfig, source, *, blocks: int, out_dir: Path,
              device: str) -> None:
    from qseq.errors import ConfigError
    from qseq.lob.evaluate import evaluate_blocks
    from qseq.lob.model import LobForecaster
    from qseq.lob.report import write_training_report
    from qseq.lob.sources import load_book

    if blocks < 0 or blocks == 1:
        raise ConfigError(f"--blocks must be 0 (none) or >= 2 for an interval, got {blocks}")
    book = load_book(source, config.levels)
    console.print(f"data: {book.source}" + (" [bold](SYNTHETIC)[/bold]" if book.synthetic else "")
                  + f", {len(book):,} events, {book.levels} levels")
    forecaster = LobForecaster(config, device=device).fit(book, progress=True)
    what = "direction" if config.target == "direction" else "returns"
    for split, frame in forecaster.metrics_.items():
        console.print(_table(f"{split} scores ({what}) of the model and the baselines", frame))
    _print_confusion(console, "test split", forecaster.metrics_["test"])
    summary = None
    if blocks:
        console.print(f"refitting on {blocks} chronological blocks ...")
        summary = evaluate_blocks(book, config, blocks, device=device)
        console.print(_table(f"{blocks} blocks: mean over test blocks, 95% t interval", summary))
        _print_confusion(console, f"{blocks} test blocks together", summary)
    name = f"lob_{_slug(book.source)}_{config.model}"
    ckpt = forecaster.save(out_dir / "checkpoints" / name)
    page = write_training_report(out_dir / f"{name}.html", book, forecaster, summary)
    console.print(f"report: {page}\ncheckpoint: {ckpt}")
