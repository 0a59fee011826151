"""``qseq text``: token language models over returns (scenario paths, beam search), character
models of names, and headline sentiment. Heavy imports happen inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qseq.cli.options import config_from_options, config_options, data_options, debug_option
from qseq.config import CharRNNConfig, ScenarioConfig, SentimentConfig

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

BPS = 1e4


def _console() -> Console:
    from qseq.cli.main import console

    return console


def frame_table(title: str, frame: pd.DataFrame, digits: int = 2):
    """A rich table of a frame (index levels first); floats to ``digits`` places, NaN blank."""
    from rich.table import Table

    table = Table(title=title)
    names = [n for n in frame.index.names if n is not None]
    for name in (*names, *frame.columns):
        table.add_column(str(name), justify="left" if name in names else "right")
    for key, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        keys = key if isinstance(key, tuple) else ((key,) if names else ())
        cells = ["" if isinstance(v, float) and v != v else f"{v:.{digits}f}"
                 if isinstance(v, float) else str(v) for v in row]
        table.add_row(*(str(k) for k in keys), *cells)
    return table


@click.group("text")
def text() -> None:
    """Token models of returns, character models of names, headline sentiment."""


@text.command("scenarios")
@click.option("--ticker", default="SPY", show_default=True,
              help="Series to model (SPY uses the bundled S&P 500 proxy offline).")
@click.option("--data", "data_path", type=click.Path(dir_okay=False),
              help="CSV/Parquet price file instead of a ticker source.")
@config_options(ScenarioConfig)
@data_options
@click.option("--evaluate", is_flag=True,
              help="Also score the paths on every day after --train-end against the historical "
                   "bootstrap and filtered historical simulation (CRPS, pinball, coverage, DM).")
@click.option("--out", "out_dir", default="reports", show_default=True,
              type=click.Path(file_okay=False), help="Folder for the quantile table and report.")
@debug_option
def scenarios_cmd(evaluate: bool, out_dir: str, **opts: Any) -> None:
    """Fit a token language model of daily returns and sample scenario paths for the next days
    after the last bar: quantiles of the cumulative return, the beam-search most likely paths,
    and (with --evaluate) probabilistic scores against the bootstrap."""
    from qseq.cli.forecast import _load

    config = config_from_options(ScenarioConfig, opts)
    panel, ticker = _load(opts)
    run_scenarios(_console(), panel, ticker, config, evaluate=evaluate, out_dir=Path(out_dir))


def run_scenarios(console: Console, panel: pd.DataFrame, ticker: str, config: ScenarioConfig, *,
                  evaluate: bool, out_dir: Path) -> None:
    import numpy as np
    import pandas as pd

    from qseq._io import atomic_write_text
    from qseq.report import write_page
    from qseq.text.scenario_model import cumulative_quantiles, fit_scenarios
    from qseq.text.scenarios import LEVELS

    source = f"{panel.attrs.get('source', '?')} ({panel.attrs.get('detail', '')})"
    console.print(f"data: {source}")
    for note in panel.attrs.get("notes", []):
        console.print(f"note: {note}")
    sm = fit_scenarios(panel, config)
    last = sm.dates[-1]
    console.print(f"{config.model} token model ({config.scale} scale, {sm.tokenizer.n_bins_} bins): "
                  f"trained on {sm.dates[0].date()} to {sm.train_end.date()} ({sm.n_train} days), "
                  f"{sm.epochs} epochs, validation perplexity {sm.val_perplexity:.1f}")
    paths = sm.paths()  # [1, M, H]
    q = cumulative_quantiles(paths)[0] * BPS  # [H, Q]
    frame = pd.DataFrame(q, columns=[f"q{lv:g}" for lv in LEVELS],
                         index=pd.Index(np.arange(1, config.horizon + 1), name="horizon"))
    console.print(frame_table(f"{ticker}: cumulative log return after {last.date()} (bps, "
                              f"{paths.shape[1]} paths, temperature {config.temperature:g})",
                              frame, 1))
    best, logp = sm.beam(n_best=3)
    beams = pd.DataFrame(np.cumsum(best[0], axis=1) * BPS,
                         columns=[f"h{h}" for h in range(1, config.horizon + 1)],
                         index=pd.Index(np.arange(1, len(logp[0]) + 1), name="beam"))
    beams["log_prob"] = logp[0]
    console.print(frame_table(f"beam search (width {config.beam_width}): most likely paths, "
                              "cumulative bps", beams, 1))
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"scenarios_{ticker}_{config.model}"
    atomic_write_text(stem.with_suffix(".csv"), frame.reset_index().to_csv(index=False))
    notes = [f"data: {source}", *panel.attrs.get("notes", []),
             f"trained on days up to {sm.train_end.date()}; paths after {last.date()}"]
    body = _fan_chart(paths[0], last)
    if evaluate:
        ev = sm.evaluate()
        shown = ev.table.drop(columns="n").copy()
        losses = [c for c in shown.columns if c not in ("coverage90", "pit_ks")]
        shown[losses] = shown[losses] * BPS
        console.print(frame_table(f"test origins {ev.origin_dates[0].date()} to "
                                  f"{ev.origin_dates[-1].date()} ({len(ev.origin_dates)}): CRPS "
                                  "and pinball in bps, coverage90 nominal 0.90", shown, 3))
        dm = ev.dm.copy()
        dm["diff"] *= BPS
        console.print(frame_table("CRPS vs the bootstrap (diff in bps, < 0 better; DM test)", dm, 4))
        atomic_write_text(stem.with_name(stem.name + "_scores.csv"),
                          ev.table.reset_index().to_csv(index=False))
        body += shown.round(4).to_html() + dm.round(4).to_html()
    page = write_page(stem.with_suffix(".html"), f"{ticker} scenario paths ({config.model})",
                      notes, body)
    console.print(f"report: {page}")


def _fan_chart(paths, last) -> str:
    """HTML of 50 sample paths and the 5-95% band of the cumulative return (bps)."""
    import numpy as np
    import plotly.graph_objects as go

    cum = np.cumsum(paths, axis=1) * BPS  # [M, H]
    x = np.arange(0, cum.shape[1] + 1)
    fig = go.Figure()
    for row in cum[:50]:
        fig.add_trace(go.Scatter(x=x, y=np.r_[0.0, row], mode="lines", showlegend=False,
                                 line={"width": 0.5, "color": "rgba(31,119,180,0.3)"}))
    lo, mid, hi = (np.r_[0.0, np.quantile(cum, p, axis=0)] for p in (0.05, 0.5, 0.95))
    fig.add_trace(go.Scatter(x=x, y=hi, name="95%", line={"color": "black", "dash": "dash"}))
    fig.add_trace(go.Scatter(x=x, y=mid, name="median", line={"color": "black"}))
    fig.add_trace(go.Scatter(x=x, y=lo, name="5%", line={"color": "black", "dash": "dash"}))
    fig.update_layout(title=f"scenario paths after {last.date()}", template="plotly_white",
                      xaxis_title="days ahead", yaxis_title="cumulative log return (bps)")
    return fig.to_html(full_html=False, include_plotlyjs=True)


@text.command("train-sentiment")
@click.option("--labelled", required=True, type=click.Path(dir_okay=False),
              help="CSV of labelled headlines with columns text,label (no labelled financial news "
                   "ships with qseq).")
@click.option("--vectors", "vectors_path", type=click.Path(dir_okay=False),
              help="GloVe-format word vectors that start the embeddings (e.g. glove.6B.50d.txt).")
@config_options(SentimentConfig)
@click.option("--holdout", default=0.2, show_default=True, type=float,
              help="Share held out (stratified) for the accuracy report before the final fit on "
                   "everything.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder the classifier is saved to (safetensors + JSON).")
@debug_option
def train_sentiment_cmd(labelled: str, vectors_path: str | None, holdout: float, out_dir: str,
                        **opts: Any) -> None:
    """Train the word-level GRU headline classifier: held-out accuracy and macro F1 against the
    majority class and VADER, then a fit on all rows, saved for `qseq text sentiment --model`."""
    from qseq.text.sentiment import read_labelled

    config = config_from_options(SentimentConfig, opts)
    texts, labels = read_labelled(labelled)
    vectors = None
    if vectors_path:
        from qseq.text.vectors import load_glove

        vectors = load_glove(vectors_path)
    run_train_sentiment(_console(), texts, labels, config, vectors, holdout, Path(out_dir))


def run_train_sentiment(console: Console, texts, labels, config: SentimentConfig, vectors,
                        holdout: float, out: Path) -> None:
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import train_test_split

    from qseq.errors import ConfigError, DataError
    from qseq.text.sentiment import LexiconScorer, fit_sentiment

    if not 0 < holdout < 1:
        raise ConfigError(f"--holdout must be in (0, 1), got {holdout}")
    y = np.array([str(v) for v in labels], dtype=object)
    try:
        tr, te = train_test_split(np.arange(len(y)), test_size=holdout, stratify=y,
                                  random_state=config.seed)
    except ValueError as exc:
        raise DataError(f"cannot hold out {holdout:.0%} of {len(y)} headlines by class ({exc}); "
                        "label more headlines or lower --holdout") from None
    model = fit_sentiment([texts[i] for i in tr], [labels[i] for i in tr], config, vectors)
    pred = np.array([str(v) for v in model.predict([texts[i] for i in te])], dtype=object)
    classes, counts = np.unique(y[tr], return_counts=True)
    majority = np.full(len(te), classes[np.argmax(counts)], dtype=object)
    rows = [("GRU classifier", accuracy_score(y[te], pred), f1_score(y[te], pred, average="macro")),
            ("majority class", accuracy_score(y[te], majority),
             f1_score(y[te], majority, average="macro", zero_division=0))]
    lowered = {c.lower() for c in classes}
    if {"positive", "negative"} <= lowered:
        vader = LexiconScorer().score([texts[i] for i in te])
        neutral = "neutral" if "neutral" in lowered else None
        name = {c.lower(): c for c in classes}
        guess = np.where(vader >= 0.05, name["positive"], np.where(
            vader <= -0.05, name["negative"], name[neutral] if neutral else name["positive"]))
        rows.append(("VADER (+-0.05)", accuracy_score(y[te], guess),
                     f1_score(y[te], guess, average="macro", zero_division=0)))
    from rich.table import Table

    table = Table(title=f"held out: {len(te)} of {len(y)} headlines (stratified, seed "
                        f"{config.seed})")
    for col in ("scorer", "accuracy", "macro F1"):
        table.add_column(col, justify="left" if col == "scorer" else "right")
    for name_, acc, f1 in rows:
        table.add_row(name_, f"{acc:.3f}", f"{f1:.3f}")
    console.print(table)
    if model.embedding_coverage_ is not None:
        console.print(f"word vectors cover {model.embedding_coverage_:.0%} of the vocabulary")
    final = fit_sentiment(texts, labels, config, vectors)
    final.save(out)
    console.print(f"classifier fit on all {len(y)} headlines -> {out}")


@text.command("sentiment")
@click.option("--news", required=True, type=click.Path(dir_okay=False),
              help="News file (CSV or Parquet): date,ticker,headline and optionally time (HH:MM).")
@click.option("--model", "model_dir", type=click.Path(file_okay=False),
              help="Classifier saved by `qseq text train-sentiment` (default: the VADER lexicon).")
@click.option("--exchange", default="XNYS", show_default=True,
              help="Exchange calendar whose session closes decide where a headline lands.")
@click.option("--tz", default="America/New_York", show_default=True,
              help="Time zone of the news file's dates and times (unless they carry an offset).")
@click.option("--close-time", help="HH:MM local cut-off earlier than the close (e.g. 15:30 to "
                                   "trade at the close on the news).")
@click.option("--date-only", default="next_session", show_default=True,
              type=click.Choice(["next_session", "same_session"]),
              help="Headlines with a date but no time: from the next session (safe), or from the "
                   "session of their date (assumes they came before its close).")
@click.option("--out", "out_path", default="reports/sentiment.parquet", show_default=True,
              type=click.Path(dir_okay=False),
              help="Daily table written (.parquet or .csv), read by --sentiment FILE.")
@debug_option
def sentiment_cmd(news: str, model_dir: str | None, exchange: str, tz: str,
                  close_time: str | None, date_only: str, out_path: str) -> None:
    """Score headlines and write the causal daily sentiment per ticker: each headline counts for
    the first session whose close is after it was published."""
    from qseq.text.news import daily_sentiment, read_news
    from qseq.text.sentiment_table import write_sentiment_table

    console = _console()
    frame = read_news(news, tz=tz)
    if model_dir:
        from qseq.text.sentiment import SentimentClassifier

        scorer, what = SentimentClassifier.load(model_dir), f"classifier {model_dir}"
    else:
        from qseq.text.sentiment import LexiconScorer

        scorer, what = LexiconScorer(), "VADER lexicon (general English, not finance-tuned)"
    scores = scorer.score(frame["headline"])
    daily = daily_sentiment(frame, scores, exchange=exchange, close_time=close_time,
                            date_only=date_only)
    timed = int(frame["has_time"].sum())
    console.print(f"{len(frame)} headlines ({timed} with a time, {len(frame) - timed} date-only: "
                  f"{date_only}), scored by {what}")
    dates = daily.index.get_level_values("date")
    console.print(f"{len(daily)} session x ticker rows, {daily.index.get_level_values('ticker').nunique()} "
                  f"tickers, sessions {dates.min().date()} to {dates.max().date()} ({exchange}; "
                  f"a headline counts from the first session closing after it)")
    path = write_sentiment_table(daily, out_path)
    console.print(f"daily sentiment -> {path} (use: --features ...,sentiment --sentiment {path})")


_NAMES_HELP = ("CSV or Parquet table with columns name,label (or name,sector); default: the "
               "company names and GICS sectors of the bundled S&P 500 sector table.")


def _names(table: str | None) -> tuple[list[str], list[str], str]:
    if table:
        from qseq.text.names import read_names

        return (*read_names(table), table)
    from qseq.text.chars import names_by_sector

    return (*names_by_sector(), "bundled S&P 500 sector table (name -> sector)")


@text.command("classify-names")
@click.option("--table", type=click.Path(dir_okay=False), help=_NAMES_HELP)
@config_options(CharRNNConfig)
@click.option("--holdout", default=0.2, show_default=True, type=float,
              help="Share of names held out (stratified) for the comparison.")
@click.option("--predict", multiple=True, help="A name to classify with the model fit on all names "
                                               "(repeatable).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Also fit on all names and save the classifier here (safetensors + JSON).")
@debug_option
def classify_names_cmd(table: str | None, holdout: float, predict: tuple[str, ...],
                       out_dir: str | None, **opts: Any) -> None:
    """Train the character-level RNN classifier of names -> labels and compare it on held-out
    names with the majority class and a character n-gram logistic regression (accuracy, macro
    F1, exact McNemar test against the n-gram model)."""
    from qseq.text.chars import fit_char_classifier
    from qseq.text.names import compare_name_classifiers

    console = _console()
    config = config_from_options(CharRNNConfig, opts)
    names, labels, source = _names(table)
    console.print(f"data: {source}: {len(names)} names, {len(set(labels))} classes")
    result = compare_name_classifiers(names, labels, config, test_size=holdout)
    shown = result.table.copy()
    shown["mcnemar_p_vs_ngram"] = [p if p != p else f"{p:.2g}" for p in shown["mcnemar_p_vs_ngram"]]
    console.print(frame_table(f"held out: {len(result.test_names)} names (stratified, seed "
                              f"{config.seed})", shown, 3))
    console.print(f"best held-out accuracy: {result.table['accuracy'].idxmax()}")
    if predict or out_dir:
        final = fit_char_classifier(names, labels, config)
        if out_dir:
            console.print(f"classifier fit on all {len(names)} names -> {final.save(out_dir)}")
        if predict:
            proba = final.predict_proba(list(predict))
            for name, row in zip(predict, proba, strict=True):
                top = int(row.argmax())
                console.print(f"{name!r} -> {final.classes[top]} (p = {row[top]:.2f})")


@text.command("generate-names")
@click.option("--table", type=click.Path(dir_okay=False), help=_NAMES_HELP)
@config_options(CharRNNConfig)
@click.option("--label", help="Condition the generator on the labels and sample names of this one.")
@click.option("--samples", "n_samples", default=10, show_default=True, type=click.IntRange(1, 10000),
              help="Names to sample.")
@click.option("--temperature", default=0.8, show_default=True, type=click.FloatRange(0, 10),
              help="Sampling temperature (0: the single most likely name).")
@click.option("--prefix", default="", help="Every sample starts with this text.")
@click.option("--holdout", default=0.2, show_default=True, type=float,
              help="Share of names held out (stratified) to report bits per character.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Save the generator here (safetensors + JSON).")
@debug_option
def generate_names_cmd(table: str | None, label: str | None, n_samples: int, temperature: float,
                       prefix: str, holdout: float, out_dir: str | None, **opts: Any) -> None:
    """Train a character-level RNN language model of names (conditioned on the labels with
    --label), report held-out bits per character, and sample new names, marking copies of
    training names."""
    from qseq.errors import ConfigError
    from qseq.text.chars import fit_char_generator, stratified_split

    console = _console()
    config = config_from_options(CharRNNConfig, opts)
    names, labels, source = _names(table)
    if label is not None and label not in set(labels):
        raise ConfigError(f"--label {label!r} is not a label of {source}; choose one of "
                          f"{sorted(set(labels))}")
    if not 0 < holdout < 1:
        raise ConfigError(f"--holdout must be in (0, 1), got {holdout}")
    train, test = stratified_split(labels, test_size=holdout, seed=config.seed)
    cond = label is not None
    fit = fit_char_generator([names[i] for i in train], config,
                             labels=[labels[i] for i in train] if cond else None)
    bits = fit.bits_per_char([names[i] for i in test],
                             [labels[i] for i in test] if cond else None)
    what = "conditioned on the label" if cond else "unconditioned"
    console.print(f"data: {source}: trained on {len(train)} names ({what}); held-out "
                  f"{len(test)} names: {bits:.2f} bits per character")
    samples = fit.sample(n_samples, temperature, prefix=prefix, label=label, seed=config.seed)
    for s in samples:
        console.print(f"  {s}" + ("   (copy of a training name)" if s in fit.train_names else ""),
                      markup=False, highlight=False)
    console.print(f"{fit.copy_share(samples):.0%} of {n_samples} samples copy a training name "
                  f"(temperature {temperature:g})")
    if out_dir:
        console.print(f"generator -> {fit.save(out_dir)}")
