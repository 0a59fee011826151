"""``qseq embed``: train ticker2vec on a price panel or word vectors on a text corpus, and query a
GloVe-format vectors file (neighbours, analogies). Heavy imports happen inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qseq.cli.options import config_from_options, config_options, data_options, debug_option
from qseq.config import EMBED_METHODS, EmbedConfig

if TYPE_CHECKING:
    from rich.console import Console

    from qseq.text.vectors import Vectors


def _console() -> Console:
    from qseq.cli.main import console

    return console


def _load_panel(data: str, opts: dict[str, Any]):
    from qseq.data.sources import load_prices

    path = Path(data)
    policies = {"nan_policy": opts.pop("nan_policy"), "ohlc_policy": opts.pop("ohlc_policy")}
    start, end = opts.pop("start"), opts.pop("end")
    source, offline = opts.pop("source"), opts.pop("offline")
    if path.suffix.lower() in (".csv", ".parquet", ".pq", ".gz", ".txt"):
        return load_prices(path, start, end, source="file", **policies)
    return load_prices(data, start, end, source=source, offline=offline, **policies)


@click.group("embed")
def embed() -> None:
    """Embeddings: ticker2vec from market sentences, word vectors from text, queries."""


@embed.command("tickers")
@click.option("--data", default="sp500_524", show_default=True,
              help="Panel of several tickers: a bundled dataset name or a CSV/Parquet file.")
@config_options(EmbedConfig)
@data_options
@click.option("--sectors", type=click.Path(dir_okay=False),
              help="CSV with ticker and sector columns for the evaluation (default: the bundled "
                   "S&P 500 sector table).")
@click.option("--out", "out_path", default="reports/ticker_vectors.txt", show_default=True,
              type=click.Path(dir_okay=False), help="GloVe-format vectors file written.")
@debug_option
def tickers_cmd(data: str, sectors: str | None, out_path: str, **opts: Any) -> None:
    """ticker2vec: vectors from each training day's cross-section sorted by return; reports
    5-NN sector purity, silhouette and the correlation baseline, and writes a sector map."""
    config = config_from_options(EmbedConfig, opts)
    panel = _load_panel(data, opts)
    run_tickers(_console(), panel, config, sectors, Path(out_path))


def run_tickers(console: Console, panel, config: EmbedConfig, sectors_path: str | None,
                out: Path) -> Vectors:
    from qseq.report import write_page
    from qseq.text import sectors as sec
    from qseq.text.ticker2vec import ticker2vec_from_config, training_returns

    days = training_returns(panel, config.sentences).index
    console.print(f"data: {panel.attrs.get('source', '?')} ({panel.attrs.get('detail', '')}); "
                  f"training days {days.min().date()} to {days.max().date()} ({len(days)}), "
                  f"nothing later is read")
    vectors = ticker2vec_from_config(panel, config, progress=True)
    vectors.save_glove(out)
    console.print(f"{len(vectors)} tickers x {vectors.dim} ({config.method}) -> {out}")
    table = sec.bundled_sectors() if sectors_path is None else sec.read_sectors(sectors_path)
    known = [t for t in vectors.tokens if t in table.index]
    if len(known) < 10:
        console.print(f"only {len(known)} tickers have a sector: no evaluation")
        return vectors
    purity = sec.sector_purity(vectors, table)
    corr = sec.sector_purity(sec.correlation_neighbours(panel, config.sentences), table)
    chance = sec.chance_purity(table, known)
    console.print(f"5-NN sector purity {purity:.3f} (residual-return correlation baseline "
                  f"{corr:.3f}, chance {chance:.3f}); silhouette "
                  f"{sec.silhouette(vectors, table):.3f}; {len(known)} of {len(vectors)} tickers "
                  "have a sector")
    fig = sec.sector_map(vectors, table, title=f"ticker2vec ({config.method}) by sector")
    page = out.with_suffix(".html")
    notes = [f"data: {panel.attrs.get('source', '?')} ({panel.attrs.get('detail', '')})",
             f"training days {days.min().date()} to {days.max().date()}",
             f"5-NN sector purity {purity:.3f}; correlation baseline {corr:.3f}; chance "
             f"{chance:.3f}"]
    write_page(page, "ticker2vec sector map", notes,
               fig.to_html(full_html=False, include_plotlyjs=True))
    console.print(f"sector map -> {page}")
    return vectors


@embed.command("words")
@click.argument("corpus", type=click.Path(dir_okay=False))
@click.option("--method", default="skipgram", show_default=True, type=click.Choice(EMBED_METHODS))
@click.option("--dim", default=100, show_default=True, type=int)
@click.option("--window", default=5, show_default=True, type=int)
@click.option("--epochs", default=5, show_default=True, type=int)
@click.option("--min-count", default=5, show_default=True, type=int,
              help="Drop tokens seen fewer times.")
@click.option("--lower/--keep-case", default=True, show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="GloVe-format vectors file written.")
@debug_option
def words_cmd(corpus: str, method: str, dim: int, window: int, epochs: int, min_count: int,
              lower: bool, seed: int, out_path: str) -> None:
    """Word vectors from a text file (one sentence per line, whitespace-separated tokens):
    skip-gram or CBOW with negative sampling and subsampling, or GloVe."""
    from qseq.text.corpus import read_corpus

    sentences = read_corpus(corpus, lower=lower)
    if method == "glove":
        from qseq.text.glove import train_glove

        vectors = train_glove(sentences, dim=dim, window=window, min_count=min_count,
                              epochs=epochs, seed=seed, progress=True)
    else:
        from qseq.text.word2vec import train_word2vec

        vectors = train_word2vec(sentences, dim=dim, window=window, min_count=min_count,
                                 sg=method == "skipgram", epochs=epochs, seed=seed, progress=True)
    vectors.save_glove(out_path)
    _console().print(f"{len(sentences)} sentences -> {len(vectors)} tokens x {vectors.dim} "
                     f"({method}) -> {out_path}")


def _load_vectors(path: str) -> Vectors:
    from qseq.text.vectors import load_glove

    return load_glove(path)


def _print_pairs(console: Console, title: str, pairs: list[tuple[str, float]]) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("token")
    table.add_column("cosine", justify="right")
    for token, score in pairs:
        table.add_row(token, f"{score:.3f}")
    console.print(table)


@embed.command("neighbours")
@click.argument("vectors_file", type=click.Path(dir_okay=False))
@click.argument("tokens", nargs=-1, required=True)
@click.option("-k", default=5, show_default=True, type=int, help="Neighbours per token.")
@debug_option
def neighbours_cmd(vectors_file: str, tokens: tuple[str, ...], k: int) -> None:
    """Nearest neighbours (cosine) of each TOKEN in a GloVe-format file."""
    vectors = _load_vectors(vectors_file)
    for token in tokens:
        _print_pairs(_console(), f"nearest to {token}", vectors.most_similar(token, k=k))


@embed.command("analogy")
@click.argument("vectors_file", type=click.Path(dir_okay=False))
@click.argument("a")
@click.argument("b")
@click.argument("c")
@click.option("-k", default=5, show_default=True, type=int)
@debug_option
def analogy_cmd(vectors_file: str, a: str, b: str, c: str, k: int) -> None:
    """Tokens nearest A - B + C (3CosAdd): `analogy FILE king man woman` -> queen."""
    vectors = _load_vectors(vectors_file)
    _print_pairs(_console(), f"{a} - {b} + {c}", vectors.analogy(a, b, c, k=k))
