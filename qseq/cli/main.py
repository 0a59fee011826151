"""``qseq`` command line: a thin layer over the same functions a notebook calls.

A user error exits non-zero with one line naming the problem and the fix; ``--debug`` (on any
command) shows the traceback instead.
"""

from __future__ import annotations

import sys
import traceback

import click
from rich.console import Console

from qseq.cli.options import debug_option
from qseq.constants import SOURCES
from qseq.errors import QseqError
from qseq.models import list_models

# Piped output (logs, CI, grep) gets wide lines instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@debug_option
@click.version_option(package_name="qseq")
def cli() -> None:
    """qseq: recurrent forecasting for sequential market data."""


@cli.command()
@click.option("--ticker", required=True, help="Ticker whose bars are replayed.")
@click.option("--model", default="gru", show_default=True, type=click.Choice(list_models()))
@click.option("--replay", required=True, help="START:END dates of the bars to replay (either may be empty).")
@click.option("--checkpoint", type=click.Path(file_okay=False),
              help="Saved model folder (default: newest under OUT/checkpoints for ticker and model).")
@click.option("--out", "out_dir", default="reports", show_default=True, type=click.Path(file_okay=False))
@click.option("--mode", default="window", show_default=True, type=click.Choice(["window", "stateful"]))
@click.option("--source", default="auto", show_default=True, type=click.Choice(list(SOURCES)))
@click.option("--offline", is_flag=True)
@debug_option
def stream(**opts) -> None:
    """Replay bars through a saved model: per-bar forecasts and update latency."""
    from qseq.cli.stream import run_stream

    run_stream(console, device="cpu", **opts)


@cli.command("models")
@click.option("--features", default=2, show_default=True, help="Input features (for counts).")
@click.option("--horizon", default=5, show_default=True)
@click.option("--hidden-size", default=64, show_default=True)
@click.option("--layers", default=2, show_default=True)
@click.option("--lookback", default=64, show_default=True)
@click.option("--book-levels", default=10, show_default=True,
              help="Order-book levels (for the counts of order-book-only models).")
@debug_option
def models_cmd(**opts) -> None:
    """List the registered models with their parameter counts."""
    from qseq.cli.models import print_models

    print_models(console, **opts)


@cli.group()
def data() -> None:
    """Bundled, cached and downloaded market data."""


@data.command("list")
@debug_option
def data_list() -> None:
    """Bundled and cached instruments with their date ranges."""
    from qseq.cli.data import list_data

    list_data(console)


@data.command("fetch")
@click.argument("tickers", nargs=-1, required=True)
@click.option("--start", help="First date (YYYY-MM-DD).")
@click.option("--end", help="Last date (YYYY-MM-DD).")
@debug_option
def data_fetch(tickers: tuple[str, ...], start: str | None, end: str | None) -> None:
    """Download TICKERS from yfinance into the Parquet cache."""
    from qseq.cli.data import fetch_data

    fetch_data(console, tickers, start, end)


@data.command("validate")
@click.argument("target")
@click.option("--source", default="auto", show_default=True, type=click.Choice(list(SOURCES)))
@click.option("--offline", is_flag=True)
@debug_option
def data_validate(target: str, source: str, offline: bool) -> None:
    """Validation report for a file (PATH) or a ticker/dataset (TICKER)."""
    from qseq.cli.data import validate_data

    validate_data(console, target, source, offline)


def _register_subcommands() -> None:
    # Each lives in its own module; heavy imports happen inside the command functions.
    from qseq.cli.anomaly import anomaly
    from qseq.cli.embed import embed
    from qseq.cli.forecast import forecast
    from qseq.cli.lob import lob
    from qseq.cli.lob_anomaly import anomaly_cmd
    from qseq.cli.lob_stream import stream_cmd
    from qseq.cli.pipeline import backtest, pipeline
    from qseq.cli.text import text

    for sub in (stream_cmd, anomaly_cmd):  # they reuse qseq.cli.lob's source options
        lob.add_command(sub)
    for command in (forecast, anomaly, backtest, pipeline, lob, embed, text):
        cli.add_command(command)


_register_subcommands()


def main(argv: list[str] | None = None) -> int:
    """Console entry point. Returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="qseq", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        err_console.print("aborted", style="red")
        return 130
    except click.ClickException as exc:
        cmd = " ".join(a for a in args[:2] if not a.startswith("-"))
        hint = f" (see 'qseq {cmd} --help')" if cmd else " (see 'qseq --help')"
        click.echo(f"error: {exc.format_message()}{hint}", err=True)
        return exc.exit_code
    except QseqError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:
        if debug:
            raise
        click.echo(f"internal error: {type(exc).__name__}: {exc} "
                   "(a bug in qseq; rerun with --debug and report the traceback)", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
