"""``qseq embed`` and ``qseq text``: the commands run on the bundled data, write what they say,
and turn user mistakes into one error line."""

from __future__ import annotations

import numpy as np

from qseq.data.sources import load_prices
from qseq.text.sentiment_table import write_sentiment_table
from qseq.text.vectors import Vectors, load_glove

from ._helpers import one_line_error, run


def test_embed_tickers_trains_evaluates_and_writes(capsys, tmp_path):
    out = tmp_path / "tickers.txt"
    code, stdout, err = run(capsys, "embed", "tickers", "--offline", "--epochs", "2", "--dim", "4",
                            "--train-end", "2009-12-31", "--out", str(out))
    assert code == 0, err
    assert "training days 2009-08-24 to 2009-12-31" in stdout
    assert "5-NN sector purity" in stdout and "correlation baseline" in stdout
    vectors = load_glove(out)
    assert vectors.dim == 4 and len(vectors) > 400
    html = out.with_suffix(".html").read_text()
    assert "ticker2vec sector map" in html and "plotly" in html


def test_embed_queries_and_their_errors(capsys, tmp_path):
    path = tmp_path / "v.txt"
    Vectors(("king", "queen", "man", "woman", "apple"),
            np.array([[1, 1, 0], [1, 0, 1], [0, 1, 0], [0, 0, 1], [5, -3, -3]], float)
            ).save_glove(path)
    code, stdout, _ = run(capsys, "embed", "analogy", str(path), "king", "man", "woman", "-k", "1")
    assert code == 0 and "queen" in stdout
    code, stdout, _ = run(capsys, "embed", "neighbours", str(path), "king", "-k", "2")
    assert code == 0 and "queen" in stdout
    code, _, err = run(capsys, "embed", "neighbours", str(path), "kink")
    assert code != 0 and "unknown token 'kink'" in one_line_error(err)
    bad = tmp_path / "bad.txt"
    bad.write_text("a 1 2\nb 1\n")
    code, _, err = run(capsys, "embed", "neighbours", str(bad), "a")
    assert code != 0 and "bad.txt" in one_line_error(err)


def test_embed_words_from_a_corpus(capsys, tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(["stocks rise on earnings", "stocks fall on rates"] * 20))
    out = tmp_path / "w.txt"
    code, stdout, err = run(capsys, "embed", "words", str(corpus), "--dim", "8", "--min-count",
                            "1", "--epochs", "1", "--out", str(out))
    assert code == 0, err
    assert set(load_glove(out).tokens) == {"stocks", "rise", "fall", "on", "earnings", "rates"}
    code, _, err = run(capsys, "embed", "words", str(tmp_path / "none.txt"), "--out", str(out))
    assert code != 0 and "not found" in one_line_error(err)


def test_text_scenarios_prints_quantiles_beams_and_scores(capsys, tmp_path):
    code, stdout, err = run(capsys, "text", "scenarios", "--ticker", "SPY", "--offline",
                            "--start", "2004-01-01", "--train-end", "2012-12-31", "--epochs", "2",
                            "--hidden-size", "8", "--n-bins", "16", "--lookback", "16",
                            "--paths", "50", "--horizon", "3", "--evaluate", "--out", str(tmp_path))
    assert code == 0, err
    assert "proxy" in stdout  # offline SPY says it is the S&P 500 index
    assert "cumulative log return after 2018-12-31" in stdout
    assert "beam search" in stdout and "CRPS vs the bootstrap" in stdout
    assert (tmp_path / "scenarios_SPY_rnn.csv").exists()
    assert (tmp_path / "scenarios_SPY_rnn_scores.csv").exists()
    assert "scenario paths" in (tmp_path / "scenarios_SPY_rnn.html").read_text()
    code, _, err = run(capsys, "text", "scenarios", "--ticker", "SPY", "--offline",
                       "--model", "transformer")
    assert code != 0
    code, _, err = run(capsys, "text", "scenarios", "--ticker", "SPY", "--offline",
                       "--train-end", "1999-02-01")
    assert code != 0 and "training days" in one_line_error(err)


def test_cli_forecast_takes_sentiment_and_explains_a_missing_table(capsys, tmp_path):
    spy = load_prices("SPY", start="2015-01-01", offline=True)
    path = write_sentiment_table(_news_table(spy), tmp_path / "s.csv")
    args = ["forecast", "--ticker", "SPY", "--offline", "--start", "2015-01-01", "--lookback", "8",
            "--horizon", "2", "--hidden-size", "4", "--layers", "1", "--epochs", "1",
            "--features", "log_return,sentiment", "--out", str(tmp_path)]
    code, out, err = run(capsys, *args, "--sentiment", str(path))
    assert code == 0, err
    flat = " ".join(out.split())  # rich wraps (and may fold a long path)
    assert "input: sentiment:" in flat and "(sha256" in flat  # provenance, console
    report = next(tmp_path.glob("SPY_gru_*.html")).read_text()
    assert "s.csv (sha256" in report  # and report
    code, out, err = run(capsys, *args, "--sentiment", str(path))
    assert code == 0 and "reusing" in out
    # the same path with other contents: the saved fit read the old table, so it is not reused
    write_sentiment_table(_news_table(spy, seed=1), path)
    code, out, err = run(capsys, *args, "--sentiment", str(path))
    assert code == 0 and "reusing" not in out, err
    code, _, err = run(capsys, *args)
    assert code != 0 and "pass --sentiment FILE" in one_line_error(err)


def _news_table(panel, seed: int = 0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    keys = panel.index[rng.random(len(panel)) < 0.3]
    return pd.DataFrame({"sentiment": rng.uniform(-1, 1, len(keys)),
                         "news_count": rng.integers(1, 5, len(keys))}, index=keys)


FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[1] / "text" / "fixtures"


def test_text_sentiment_train_score_and_write(capsys, tmp_path):
    model = tmp_path / "clf"
    code, out, err = run(capsys, "text", "train-sentiment", "--labelled",
                         str(FIXTURES / "headlines_labelled.csv"), "--epochs", "3",
                         "--embed-dim", "8", "--hidden-size", "8", "--out", str(model))
    assert code == 0, err
    assert "GRU classifier" in out and "majority class" in out and "VADER" in out
    assert (model / "model.safetensors").is_file()
    table = tmp_path / "s.csv"
    for extra in ((), ("--model", str(model))):
        code, out, err = run(capsys, "text", "sentiment", "--news", str(FIXTURES / "news.csv"),
                             *extra, "--out", str(table))
        assert code == 0, err
        assert "date-only: next_session" in out and "--sentiment" in out
        from qseq.text.sentiment_table import read_sentiment_table

        daily = read_sentiment_table(table)
        assert set(daily.index.get_level_values("ticker")) == {"AAPL", "MSFT", "JPM"}
        assert daily["sentiment"].between(-1, 1).all()
    code, _, err = run(capsys, "text", "sentiment", "--news", str(FIXTURES / "headlines_labelled.csv"))
    assert code != 0 and "lacks column(s) ['date', 'ticker', 'headline']" in one_line_error(err)
    code, _, err = run(capsys, "text", "train-sentiment", "--labelled", str(FIXTURES / "news.csv"),
                       "--out", str(tmp_path / "x"))
    assert code != 0 and one_line_error(err)


def test_classify_names_compares_with_baselines_and_saves(capsys, tmp_path):
    code, stdout, err = run(capsys, "text", "classify-names", "--epochs", "2", "--hidden-size", "8",
                            "--embed-dim", "4", "--predict", "Acme Energy Corp", "--out",
                            str(tmp_path / "clf"))
    assert code == 0, err
    assert "496 names, 10 classes" in stdout
    for row in ("majority class", "char n-gram LR", "char-RNN (gru)", "mcnemar_p_vs_ngram"):
        assert row in stdout
    assert "'Acme Energy Corp' ->" in stdout
    from qseq.text.chars import FittedCharClassifier

    assert len(FittedCharClassifier.load(tmp_path / "clf").classes) == 10


def test_generate_names_samples_and_refuses_unknown_labels(capsys, tmp_path):
    table = tmp_path / "names.csv"
    table.write_text("name,label\n" + "".join(f"{w} {s},{s}\n" for s in ("Bank", "Oil")
                                               for w in ("Alpha", "Beta", "Gamma", "Delta", "Eps")))
    code, stdout, err = run(capsys, "text", "generate-names", "--table", str(table), "--label",
                            "Oil", "--samples", "4", "--epochs", "2", "--hidden-size", "8",
                            "--prefix", "Al")
    assert code == 0, err
    flat = " ".join(stdout.split())  # rich wraps long lines
    assert "bits per character" in flat and "of 4 samples copy a training name" in flat
    assert sum(line.startswith("  Al") for line in stdout.splitlines()) == 4
    code, _, err = run(capsys, "text", "generate-names", "--table", str(table), "--label", "Gas")
    assert code != 0 and "--label 'Gas' is not a label" in one_line_error(err)
    code, _, err = run(capsys, "text", "classify-names", "--table", str(tmp_path / "none.csv"))
    assert code != 0 and "no names file" in one_line_error(err)
