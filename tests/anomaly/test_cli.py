"""``qseq anomaly`` end to end on the bundled data; user mistakes give one line."""

from __future__ import annotations

import pytest

from qseq.cli.main import main

FAST = ["--epochs", "1", "--hidden-size", "8", "--lookback", "16", "--device", "cpu"]


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_anomaly_spy_offline_end_to_end_then_reuse(capsys, tmp_path):
    args = ["anomaly", "--ticker", "SPY", "--offline", "--start", "2009-01-01", "--end", "2012-12-31",
            "--train-end", "2011-06-30", "--out", str(tmp_path), *FAST]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert "proxy for SPY" in out and "normal period (to 2011-06-30)" in out
    assert "feature units 20" in " ".join(out.split())  # the span the feature units came from
    assert "threshold" in out and "events" in out and "driven by" in out
    page = (tmp_path / "SPY_masked_lstm_ae_anomaly_2012-12-31.html").read_text()
    assert "plotly" in page.lower() and "Events of SPY" in page and "flash crash" in page
    # the same results as tables, for jobs and notebooks
    import pandas as pd

    stem = tmp_path / "SPY_masked_lstm_ae_anomaly_2012-12-31"
    scores = pd.read_parquet(f"{stem}_scores.parquet")
    assert list(scores.columns[:6]) == ["date", "ticker", "score", "threshold", "flagged", "driver"]
    assert (scores["flagged"] == (scores["score"] > scores["threshold"])).all()
    contrib = scores.filter(like="contrib_")
    assert len(contrib.columns) >= 2
    assert (contrib.max(axis=1) - scores["score"]).abs().max() < 1e-9  # the score is their max
    assert scores["driver"].isin([c.removeprefix("contrib_") for c in contrib.columns]).all()
    csv = pd.read_csv(f"{stem}_scores.csv", parse_dates=["date"])
    pd.testing.assert_frame_equal(csv, scores, check_dtype=False)
    events = pd.read_parquet(f"{stem}_events.parquet")
    assert {"start", "end", "peak_score", "driver"} <= set(events.columns)
    assert pd.read_csv(f"{stem}_events.csv").shape[0] == len(events)
    code, out2, _ = run(capsys, *args)
    assert code == 0 and "reusing" in out2
    assert out.split("SPY: ")[1] == out2.split("SPY: ")[1]  # same events from the saved model


def test_anomaly_panel_from_a_file_with_embeddings(capsys, tmp_path, two_stocks):
    path = tmp_path / "two.csv"
    two_stocks.reset_index().to_csv(path, index=False)
    code, out, err = run(capsys, "anomaly", "--data", str(path), "--ticker", "MSFT", "--model", "gru_ae",
                         "--train-end", "2009-12-31", "--threshold", "quantile", "--out",
                         str(tmp_path), *FAST)
    assert code == 0, err
    assert "2 ticker(s) from file" in out and "MSFT:" in out and "quantile" in out
    assert "learned ticker embeddings" in (tmp_path / "MSFT_gru_ae_anomaly_2010-12-31.html").read_text()


def test_anomaly_panel_leaves_out_tickers_too_short_for_a_window(capsys, tmp_path, two_stocks):
    """A panel with one ticker of a few bars (like ETFCD in sp500_524) is scored without it."""
    dates = two_stocks.index.get_level_values("date")
    ticks = two_stocks.index.get_level_values("ticker")
    panel = two_stocks[(ticks == "AAPL") | (dates >= "2010-12-20")]
    path = tmp_path / "short.csv"
    panel.reset_index().to_csv(path, index=False)
    code, out, err = run(capsys, "anomaly", "--data", str(path), "--ticker", "AAPL",
                         "--train-end", "2009-12-31", "--out", str(tmp_path), *FAST)
    assert code == 0, err
    flat = " ".join(out.split())
    assert "1 ticker(s) from file" in flat and "left out 1 ticker(s) with fewer than 18 bars" in flat
    assert "MSFT" in flat and "AAPL:" in out
    code, _, err = run(capsys, "anomaly", "--data", str(path), "--ticker", "MSFT",
                       "--train-end", "2009-12-31", "--out", str(tmp_path), *FAST)
    assert code != 0 and "MSFT rows" in err  # the reported ticker itself is never dropped


@pytest.mark.parametrize("tickers,want", [("stocks5", 4), ("MSFT,IBM", 3)])
def test_anomaly_ticker_inside_or_beside_the_listed_tickers(capsys, tmp_path, tickers, want):
    """``--tickers stocks5 --ticker AAPL`` (AAPL is in the dataset; FB starts in 2012) is one panel of four; a
    ticker outside the list is loaded beside it."""
    code, out, err = run(capsys, "anomaly", "--tickers", tickers, "--ticker", "AAPL", "--offline",
                         "--start", "2008-01-01", "--end", "2011-12-31", "--train-end",
                         "2010-06-30", "--out", str(tmp_path), *FAST)
    assert code == 0, err
    assert f"{want} ticker(s)" in out and "AAPL:" in out


@pytest.mark.parametrize("args,needle", [
    (["anomaly"], "give --ticker SYMBOL, --tickers A,B,... or --data PATH"),
    (["anomaly", "--ticker", "SPY", "--model", "gru"], "'gru' is not one of"),
    (["anomaly", "--ticker", "SPY", "--target-far", "0.7"], "false-alarm rate must be in (0, 0.5)"),
    (["anomaly", "--ticker", "SPY", "--offline", "--train-end", "1990-01-01"], "before the first"),
    (["anomaly", "--ticker", "SPY", "--offline", "--train-end", "2018-13-45"], "bad train_end"),
    (["anomaly", "--tickers", "stocks5", "--offline"], "pick the one to report with --ticker"),
    (["anomaly", "--tickers", "AAPL", "--data", "x.csv"], "give --tickers or --data, not both"),
])
def test_user_mistakes_give_one_clear_line(capsys, tmp_path, args, needle):
    code, _, err = run(capsys, *args, "--out", str(tmp_path))
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code != 0 and len(lines) == 1 and "Traceback" not in err, err
    assert needle in lines[0]
