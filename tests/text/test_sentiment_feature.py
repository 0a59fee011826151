"""The daily sentiment table as a forecasting input: file round trip and errors, the sentiment
and news_count features, and forecasts / walk-forward runs / the CLI that read it, leakage-free."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qseq.backtest.folds import WalkForwardConfig
from qseq.backtest.walk_forward import WalkForwardSpec, run_walk_forward
from qseq.config import ForecastConfig
from qseq.data.features import compute_features
from qseq.data.sources import load_prices
from qseq.errors import ConfigError, DataError
from qseq.forecaster import Forecaster
from qseq.text.sentiment_table import (
    join_sentiment_file,
    read_sentiment_table,
    write_sentiment_table,
)
from qseq.train import TrainConfig


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    return load_prices("stocks5", start="2009-01-01", end="2011-12-31", offline=True)


def news_table(panel: pd.DataFrame, seed: int = 0, share: float = 0.3) -> pd.DataFrame:
    """Random sentiment on a random share of the panel's (date, ticker) bars."""
    rng = np.random.default_rng(seed)
    keys = panel.index[rng.random(len(panel)) < share]
    return pd.DataFrame({"sentiment": rng.uniform(-1, 1, len(keys)),
                         "news_count": rng.integers(1, 5, len(keys)).astype(np.int64)}, index=keys)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_table_round_trip(panel, tmp_path, suffix):
    daily = news_table(panel)
    path = write_sentiment_table(daily, tmp_path / f"s{suffix}")
    back = read_sentiment_table(path)
    np.testing.assert_allclose(back["sentiment"], daily["sentiment"].sort_index())
    assert list(back.index.names) == ["date", "ticker"] and len(back) == len(daily)


def test_table_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="not found; write one with `qseq text sentiment"):
        read_sentiment_table(tmp_path / "none.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("date,ticker,sentiment\n2010-01-04,AAPL,0.5\n")
    with pytest.raises(DataError, match=r"lacks columns \['news_count'\]"):
        read_sentiment_table(bad)
    bad.write_text("date,ticker,sentiment,news_count\n2010-01-04,AAPL,0.5,1\n2010-01-04,aapl,0.1,2\n")
    with pytest.raises(DataError, match="two rows for AAPL on 2010-01-04"):
        read_sentiment_table(bad)
    bad.write_text("date,ticker,sentiment,news_count\nlast monday,AAPL,0.5,1\n")
    with pytest.raises(DataError, match="row 1 has date 'last monday'"):
        read_sentiment_table(bad)
    bad.write_text("date,ticker,sentiment,news_count\n2010-01-04,AAPL,,1\n")
    with pytest.raises(DataError, match="row 1 has a missing or non-numeric"):
        read_sentiment_table(bad)


def test_features_read_the_joined_columns(panel, tmp_path):
    daily = news_table(panel)
    path = write_sentiment_table(daily, tmp_path / "s.parquet")
    joined = join_sentiment_file(panel, path)
    feats = compute_features(joined, ["sentiment", "sentiment_3", "news_count"])
    key = daily.index[10]
    got = feats.loc[(key[1], key[0])]
    assert got["sentiment"] == pytest.approx(daily.loc[key, "sentiment"])
    assert got["news_count"] == pytest.approx(np.log1p(daily.loc[key, "news_count"]))
    quiet = joined.index.difference(daily.index)[0]
    assert feats.loc[(quiet[1], quiet[0]), "sentiment"] == 0.0
    with pytest.raises(DataError, match="pass --sentiment FILE"):
        compute_features(panel, ["sentiment"])


def test_config_refuses_a_table_nothing_reads():
    with pytest.raises(ConfigError, match="no feature reads it; add sentiment"):
        ForecastConfig(sentiment="s.parquet")


SMALL = dict(model="gru", lookback=8, horizons=(1, 2), hidden_size=4, num_layers=1,
             features=("log_return", "sentiment", "news_count"),
             train=TrainConfig(epochs=1, batch_size=128), seed=0)


def test_forecaster_with_sentiment_is_leakage_free(panel, tmp_path):
    daily = news_table(panel)
    path = write_sentiment_table(daily, tmp_path / "s.parquet")
    fc = Forecaster(**SMALL, sentiment=str(path)).fit(panel)
    full = fc.predict(panel)
    latest = fc.predict(panel, last_only=True)
    assert set(latest["ticker"]) == set(panel.index.get_level_values("ticker"))
    # change every headline score after a cut-off: forecasts anchored before it do not move
    cut = pd.Timestamp("2011-06-30")
    later = daily.index.get_level_values("date") > cut
    shocked = daily.copy()
    shocked.loc[later, "sentiment"] = -shocked.loc[later, "sentiment"]
    path2 = write_sentiment_table(shocked, tmp_path / "s2.parquet")
    fc2 = Forecaster(**SMALL, sentiment=str(path2))
    fc2.__dict__.update({k: v for k, v in fc.__dict__.items() if k != "config"})
    again = fc2.predict(panel)
    before = full["date"] <= cut
    np.testing.assert_array_equal(full.loc[before, "y_hat"], again.loc[before, "y_hat"])
    assert not np.array_equal(full.loc[~before, "y_hat"], again.loc[~before, "y_hat"])


def test_walk_forward_reads_the_table(panel, tmp_path):
    path = write_sentiment_table(news_table(panel), tmp_path / "s.parquet")
    spec = WalkForwardSpec(forecast=ForecastConfig(**SMALL, sentiment=str(path)),
                           folds=WalkForwardConfig(train_bars=400, test_bars=150, val_frac=0.1),
                           baselines=("random_walk",), permutation_repeats=1)
    result = run_walk_forward(panel, spec, work_dir=tmp_path / "work")
    assert len(result.forecasts) > 0 and np.isfinite(result.forecasts["y_hat"]).all()
    again = run_walk_forward(panel, spec, work_dir=tmp_path / "work")  # finished folds reused
    pd.testing.assert_frame_equal(result.forecasts, again.forecasts)
    # an edited table under the same path: the finished folds read the old one, so they refit
    write_sentiment_table(news_table(panel, seed=1), path)
    edited = run_walk_forward(panel, spec, work_dir=tmp_path / "work")
    assert not np.array_equal(result.forecasts["y_hat"], edited.forecasts["y_hat"])


def test_pipeline_spec_reads_the_table(tmp_path):
    from qseq.pipeline.run import run_pipeline

    spy = load_prices("SPY", start="2015-01-01", offline=True)
    path = write_sentiment_table(news_table(spy), tmp_path / "s.parquet")
    spec = tmp_path / "news.yaml"
    spec.write_text(f"""
name: news
data: {{tickers: [SPY], start: 2015-01-01}}
forecaster:
  features: [log_return, sentiment_5, news_count]
  sentiment: {path}
  lookback: 8
  horizons: 2
  hidden_size: 4
  num_layers: 1
  train: {{epochs: 1, batch_size: 128}}
walk_forward: {{train_bars: 600, test_bars: 250}}
baselines: [random_walk]
importance: {{permutation_repeats: 1}}
""")
    out = run_pipeline(spec, out_root=tmp_path / "reports", offline=True)
    imp = pd.read_parquet(out.run_dir / "importance.parquet")
    assert {"sentiment_5", "news_count"} <= set(imp["feature"])
