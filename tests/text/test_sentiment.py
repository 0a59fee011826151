"""Headline sentiment (qseq.text.sentiment) and the causal daily news feature (qseq.text.news).

The fixtures under tests/text/fixtures were written for these tests (see the README there).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from qseq.errors import CheckpointError, ConfigError, DataError, NotFittedError
from qseq.text.news import daily_sentiment, parse_news, read_news, sentiment_panel_columns
from qseq.text.sentiment import (
    LexiconScorer,
    SentimentClassifier,
    SentimentConfig,
    WordVocab,
    fit_sentiment,
    read_labelled,
    tokenize,
)
from qseq.text.vectors import Vectors, load_glove

FIXTURES = Path(__file__).parent / "fixtures"
LABELLED = FIXTURES / "headlines_labelled.csv"
NEWS = FIXTURES / "news.csv"
SMALL = SentimentConfig(embed_dim=8, hidden_size=8, epochs=3, seed=1)


@pytest.fixture(scope="module")
def labelled():
    return read_labelled(LABELLED)


@pytest.fixture(scope="module")
def small_model(labelled):
    texts, labels = labelled
    return fit_sentiment(texts[::3], labels[::3], SMALL)


def news_frame(*rows: tuple[str, str, str]) -> pd.DataFrame:
    """A checked news frame from (date, time, ticker) rows, headlines numbered."""
    frame = pd.DataFrame(rows, columns=["date", "time", "ticker"])
    frame["headline"] = [f"headline {i}" for i in range(len(frame))]
    return parse_news(frame)


def sessions_of(news: pd.DataFrame, **kwargs) -> list[str]:
    """The session each headline lands in (one headline per row, distinct tickers)."""
    news = news.assign(ticker=[f"T{i}" for i in range(len(news))])
    daily = daily_sentiment(news, np.arange(len(news), dtype=float), **kwargs)
    found = {t: str(d.date()) for d, t in daily.index}
    return [found[f"T{i}"] for i in range(len(news))]


# -- labelled data, tokens, vocabulary ----------------------------------------------------------
def test_read_labelled_fixture(labelled):
    texts, labels = labelled
    assert len(texts) == len(labels) == 150
    assert {lab: labels.count(lab) for lab in set(labels)} == {"positive": 50, "negative": 50,
                                                               "neutral": 50}


def test_read_labelled_integer_labels(tmp_path):
    path = tmp_path / "ints.csv"
    path.write_text("text,label\nup a lot,1\ndown a lot,-1\nflat,0\n")
    texts, labels = read_labelled(path)
    assert texts == ["up a lot", "down a lot", "flat"] and labels == [1, -1, 0]


@pytest.mark.parametrize("body, message", [
    ("headline,label\nx,positive\n", "no 'text' column"),
    ("text,sentiment\nx,positive\n", "no 'label' column"),
    ("text,label\nup,positive\n ,negative\n", "row 2 has an empty text"),
    ("text,label\nup,positive\ndown,\n", "row 2 has an empty label"),
    ("text,label\nup,positive\nmore up,positive\n", "needs at least 2 labels"),
])
def test_read_labelled_errors(tmp_path, body, message):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(DataError, match=message) as info:
        read_labelled(path)
    assert str(path) in str(info.value)


def test_tokenize_keeps_dollar_percent_and_numbers():
    assert tokenize("Acme UP 5% to $12.50, doesn't stop; 1,000 jobs") == [
        "acme", "up", "5", "%", "to", "$", "12.50", "doesn't", "stop", "1,000", "jobs"]


def test_word_vocab_min_count_unk_and_padding():
    vocab = WordVocab.build(["b a a", "c a b"], min_count=2)
    assert vocab.tokens == ("<pad>", "<unk>", "a", "b")  # most frequent first; c is rare
    ids, lengths = vocab.encode(["a c b", "", "b"], max_len=2)
    assert ids.tolist() == [[2, 1], [1, 0], [3, 0]] and lengths.tolist() == [2, 1, 1]


# -- configuration ------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value, message", [
    ("hidden_size", 0, "hidden_size must be a positive integer"),
    ("epochs", 2.5, "epochs must be a positive integer"),
    ("pooling", "max", "pooling must be one of"),
    ("dropout", 1.0, r"dropout must be in \[0, 1\)"),
    ("lr", 0.0, "lr must be a positive number"),
    ("bidirectional", "yes", "bidirectional must be true or false"),
])
def test_config_rejects_bad_values(field, value, message):
    with pytest.raises(ConfigError, match=message):
        SentimentConfig(**{field: value})


# -- the classifier -----------------------------------------------------------------------------
def test_classifier_beats_majority_on_held_out(labelled):
    texts, labels = labelled
    order = np.random.default_rng(0).permutation(len(texts))
    train, test = order[:105], order[105:]
    model = fit_sentiment([texts[i] for i in train], [labels[i] for i in train], SentimentConfig())
    truth = np.array([labels[i] for i in test], dtype=object)
    accuracy = float(np.mean(model.predict([texts[i] for i in test]) == truth))
    majority = max(np.mean(truth == c) for c in set(truth))
    assert accuracy >= majority + 0.25, (accuracy, majority)
    assert model.train_loss_[-1] < model.train_loss_[0]


def test_fit_is_deterministic(labelled, small_model):
    texts, labels = labelled
    again = fit_sentiment(texts[::3], labels[::3], SMALL)
    for name, value in small_model.model_.state_dict().items():
        assert torch.equal(value, again.model_.state_dict()[name]), name
    np.testing.assert_array_equal(small_model.predict_proba(texts), again.predict_proba(texts))
    other = fit_sentiment(texts[::3], labels[::3], SentimentConfig(**{**SMALL.__dict__, "seed": 2}))
    assert not np.allclose(other.predict_proba(texts), small_model.predict_proba(texts))


def test_predictions_do_not_depend_on_batching(labelled, small_model):
    texts = labelled[0][:40]
    whole = small_model.predict_proba(texts)
    single = np.vstack([small_model.predict_proba([t]) for t in texts])
    np.testing.assert_allclose(whole, single, atol=1e-6)


def test_save_load_round_trip(tmp_path, labelled, small_model):
    texts = labelled[0]
    small_model.save(tmp_path / "clf")
    assert sorted(p.name for p in (tmp_path / "clf").iterdir()) == ["config.json", "model.safetensors"]
    loaded = SentimentClassifier.load(tmp_path / "clf")
    assert loaded.config == small_model.config and loaded.classes_ == small_model.classes_
    assert loaded.vocab_ == small_model.vocab_
    np.testing.assert_array_equal(loaded.predict_proba(texts), small_model.predict_proba(texts))
    np.testing.assert_array_equal(loaded.score(texts), small_model.score(texts))


def test_load_rejects_other_checkpoints(tmp_path, small_model):
    from qseq.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "other", small_model.model_, {"kind": "forecaster"})
    with pytest.raises(CheckpointError, match="not a headline sentiment classifier"):
        SentimentClassifier.load(tmp_path / "other")


def test_not_fitted():
    with pytest.raises(NotFittedError, match="call fit"):
        SentimentClassifier().predict(["x"])


def test_score_rules(labelled, small_model):
    texts, labels = labelled
    proba = small_model.predict_proba(texts)
    assert small_model.classes_ == ("negative", "neutral", "positive")
    np.testing.assert_allclose(small_model.score(texts), proba[:, 2] - proba[:, 0])
    ints = fit_sentiment(texts[::3], [{"negative": -1, "neutral": 0, "positive": 1}[x]
                                      for x in labels[::3]], SMALL)
    assert ints.classes_ == (-1, 0, 1) and ints.predict(texts[:3]).dtype == np.int64
    p = ints.predict_proba(texts)
    np.testing.assert_allclose(ints.score(texts), p @ np.array([-1.0, 0.0, 1.0]))
    assert np.all(np.abs(ints.score(texts)) <= 1)


def test_glove_vectors_initialise_rows(tmp_path, labelled):
    texts, labels = labelled
    rng = np.random.default_rng(3)
    words = ("beats", "misses", "conference", "notinthedata")
    Vectors(words, rng.normal(size=(4, 8)).astype(np.float32)).save_glove(tmp_path / "g.txt")
    vectors = load_glove(tmp_path / "g.txt")
    config = SentimentConfig(**{**SMALL.__dict__, "freeze_embeddings": True})
    model = fit_sentiment(texts[::3], labels[::3], config, vectors=vectors)
    weight = model.model_.embed.weight.detach().numpy()
    for word in words[:3]:
        np.testing.assert_array_equal(weight[model.vocab_.tokens.index(word)], vectors.vector(word))
    assert not weight[0].any()  # padding
    assert model.embedding_coverage_ == pytest.approx(3 / (len(model.vocab_) - 2))


def test_glove_dimension_mismatch_errors(labelled):
    texts, labels = labelled
    vectors = Vectors(("beats",), np.ones((1, 5), dtype=np.float32))
    with pytest.raises(ConfigError, match="5 dimensions but embed_dim is 8; set embed_dim=5"):
        fit_sentiment(texts[::15], labels[::15], SMALL, vectors=vectors)


def test_fit_input_errors():
    with pytest.raises(DataError, match="as many labels as texts"):
        fit_sentiment(["a", "b"], ["x"], SMALL)
    with pytest.raises(DataError, match="at least 2 classes"):
        fit_sentiment(["a", "b"], ["x", "x"], SMALL)
    with pytest.raises(DataError, match="text 1 is float"):
        fit_sentiment(["a", float("nan")], ["x", "y"], SMALL)


# -- the lexicon scorer -------------------------------------------------------------------------
def test_vader_signs_on_obvious_headlines():
    scores = LexiconScorer().score(["Acme posts strong profit growth",
                                    "Globex shares gain on upbeat outlook",
                                    "Acme shares plunge after fraud charges",
                                    "Acme falls after weak sales",
                                    "Acme to hold annual meeting on Tuesday"])
    assert scores.dtype == np.float64 and scores.shape == (5,)
    assert scores[0] > 0.3 and scores[1] > 0.3
    assert scores[2] < -0.3 and scores[3] < -0.3
    assert scores[4] == 0.0


# -- reading news -------------------------------------------------------------------------------
def test_read_news_fixture():
    news = read_news(NEWS)
    assert list(news.columns) == ["published", "has_time", "ticker", "headline"]
    assert str(news["published"].dtype) == "datetime64[ns, America/New_York]"
    assert set(news["ticker"]) == {"AAPL", "MSFT", "JPM"}  # 'aapl' normalised
    assert news.loc[2, "published"] == pd.Timestamp("2010-01-04 16:30", tz="America/New_York")
    assert not news.loc[7, "has_time"] and news.loc[8, "has_time"]


def test_timestamps_in_the_date_column_and_offsets():
    frame = pd.DataFrame({"date": ["2010-01-05 15:59", "2010-01-05T21:30:00Z", "2010-01-05"],
                          "ticker": ["A", "B", "C"], "headline": ["x", "y", "z"]})
    news = parse_news(frame)
    assert news["has_time"].tolist() == [True, True, False]
    assert news.loc[1, "published"] == pd.Timestamp("2010-01-05 16:30", tz="America/New_York")
    assert sessions_of(news) == ["2010-01-05", "2010-01-06", "2010-01-06"]


def test_read_news_parquet(tmp_path):
    frame = pd.DataFrame({"date": pd.to_datetime(["2010-01-05 16:30", "2010-01-05 00:00"]),
                          "ticker": ["msft", "JPM"], "headline": ["late", "dated"]})
    frame.to_parquet(tmp_path / "news.parquet")
    news = read_news(tmp_path / "news.parquet")
    assert news["has_time"].tolist() == [True, False]  # typed midnight = date only
    assert sessions_of(news) == ["2010-01-06", "2010-01-06"]


@pytest.mark.parametrize("body, message", [
    ("date,ticker,text\n2010-01-04,AAPL,x\n", r"lacks column\(s\) \['headline'\]"),
    ("date,ticker,headline\n2010-01-04,AAPL,x\n2010-13-45,AAPL,y\n",
     "row 2 \\(line 3\\): cannot read date '2010-13-45'"),
    ("date,ticker,headline\n2010-01-04,AAPL,x\n2010-01-05,AA PL,y\n",
     "row 2 \\(line 3\\): invalid ticker 'AA PL'"),
    ("date,ticker,headline\n2010-01-04,AAPL,\n", "row 1 \\(line 2\\) has an empty headline"),
    ("date,time,ticker,headline\n2010-01-04,25:10,AAPL,x\n", "cannot read time '25:10'"),
    ("date,time,ticker,headline\n2010-01-04 10:00,11:00,AAPL,x\n", "a time both in date and in time"),
])
def test_read_news_errors(tmp_path, body, message):
    path = tmp_path / "news.csv"
    path.write_text(body)
    with pytest.raises(DataError, match=message) as info:
        read_news(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_read_news_bad_options(tmp_path):
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Base'"):
        read_news(NEWS, tz="Mars/Base")
    (tmp_path / "news.json").write_text("{}")
    with pytest.raises(DataError, match="unknown news file type '.json'"):
        read_news(tmp_path / "news.json")


# -- the causal daily feature -------------------------------------------------------------------
def test_leakage_close_is_the_cut_off():
    news = news_frame(("2010-01-05", "16:30", "A"), ("2010-01-05", "15:59", "B"),
                      ("2010-01-05", "16:00", "C"), ("2010-01-05", "09:00", "D"))
    daily = daily_sentiment(news, np.array([1.0, 2.0, 3.0, 4.0]))
    day, next_day = pd.Timestamp("2010-01-05"), pd.Timestamp("2010-01-06")
    assert sorted(daily.loc[day].index) == ["B", "D"]  # not the 16:30 or the 16:00 headline
    assert sorted(daily.loc[next_day].index) == ["A", "C"]


def test_weekend_holiday_and_early_close_go_to_the_next_session():
    news = news_frame(("2010-01-09", "11:00", "A"),  # Saturday
                      ("2010-01-15", "17:45", "B"),  # Friday after the close; Monday is MLK day
                      ("2010-01-18", "10:00", "C"),  # Martin Luther King Jr. Day
                      ("2010-02-15", "12:00", "D"),  # Presidents' Day
                      ("2010-11-26", "13:30", "E"),  # closes at 13:00 (day after Thanksgiving)
                      ("2010-11-26", "12:59", "F"))
    assert sessions_of(news) == ["2010-01-11", "2010-01-19", "2010-01-19", "2010-02-16",
                                 "2010-11-29", "2010-11-26"]


def test_date_only_rules():
    news = news_frame(("2010-01-07", "", "A"), ("2010-01-10", "", "B"), ("2010-01-18", "", "C"))
    assert sessions_of(news) == ["2010-01-08", "2010-01-11", "2010-01-19"]
    assert sessions_of(news, date_only="same_session") == ["2010-01-07", "2010-01-11", "2010-01-19"]
    with pytest.raises(ConfigError, match="date_only must be one of"):
        sessions_of(news, date_only="guess")


def test_close_time_cut_off_is_never_later_than_the_close():
    news = news_frame(("2010-01-05", "15:45", "A"), ("2010-11-26", "12:59", "B"))
    assert sessions_of(news) == ["2010-01-05", "2010-11-26"]
    assert sessions_of(news, close_time="15:30") == ["2010-01-06", "2010-11-26"]
    with pytest.raises(ConfigError, match="close_time must be HH:MM"):
        sessions_of(news, close_time="4pm")


def test_fixture_daily_feature_known_values():
    news = read_news(NEWS)
    daily = daily_sentiment(news, np.arange(len(news), dtype=float))
    assert daily.index.names == ["date", "ticker"] and daily.index.is_monotonic_increasing
    assert daily.dtypes.to_dict() == {"sentiment": np.float64, "news_count": np.int64}
    row = daily.loc[(pd.Timestamp("2010-01-06"), "MSFT")]  # rows 5 and 6, both in session
    assert row["sentiment"] == 5.5 and row["news_count"] == 2
    row = daily.loc[(pd.Timestamp("2010-01-11"), "JPM")]  # Friday 19:05 and Sunday date-only
    assert row["sentiment"] == 9.0 and row["news_count"] == 2
    assert daily["news_count"].sum() == len(news)


@pytest.mark.parametrize("date_only", ["next_session", "same_session"])
def test_perturbing_later_headlines_never_changes_earlier_features(date_only):
    rng = np.random.default_rng(7)
    base = read_news(NEWS)
    days = pd.date_range("2010-01-02", "2010-02-20", freq="D")
    extra = pd.DataFrame({"date": pd.DatetimeIndex(rng.choice(days, 200)).strftime("%Y-%m-%d"),
                          "time": [f"{h:02d}:{m:02d}" if keep else "" for h, m, keep in zip(
                              rng.integers(0, 24, 200), rng.integers(0, 60, 200),
                              rng.random(200) < 0.8, strict=True)],
                          "ticker": rng.choice(["AAPL", "MSFT", "JPM"], 200),
                          "headline": "x"})
    news = pd.concat([base, parse_news(extra)], ignore_index=True)
    scores = rng.normal(size=len(news))
    daily = daily_sentiment(news, scores, date_only=date_only)
    local = news["published"].dt.tz_localize(None)
    for session in pd.bdate_range("2010-01-04", "2010-02-12"):
        close = session + pd.Timedelta(hours=16)  # no early closes in these weeks
        later = np.where(news["has_time"], local >= close,
                         local.dt.normalize() >= session if date_only == "next_session"
                         else local.dt.normalize() > session)
        moved = news.copy()
        moved.loc[later, "published"] += pd.to_timedelta(rng.integers(0, 72, int(later.sum())), "h")
        new_scores = np.where(later, rng.normal(size=len(news)), scores)
        added = news_frame((str((session + pd.Timedelta(days=1)).date()), "10:00", "AAPL"),
                           (str(session.date()), "16:00", "JPM"))
        perturbed = daily_sentiment(pd.concat([moved, added], ignore_index=True),
                                    np.r_[new_scores, 5.0, -5.0], date_only=date_only)
        upto = daily.index.get_level_values("date") <= session
        kept = perturbed[perturbed.index.get_level_values("date") <= session]
        pd.testing.assert_frame_equal(daily[upto], kept)


def test_daily_sentiment_input_errors():
    news = news_frame(("2010-01-05", "10:00", "A"))
    with pytest.raises(DataError, match="got 2 scores for 1 headlines"):
        daily_sentiment(news, np.zeros(2))
    with pytest.raises(DataError, match="score 0 is not finite"):
        daily_sentiment(news, np.array([np.nan]))
    with pytest.raises(DataError, match=r"lacks column\(s\) \['has_time'\]"):
        daily_sentiment(news.drop(columns="has_time"), np.zeros(1))
    with pytest.raises(DataError, match="outside the XNYS calendar"):
        daily_sentiment(news_frame(("1960-01-05", "10:00", "A")), np.zeros(1))
    with pytest.raises(ConfigError, match="unknown exchange calendar"):
        daily_sentiment(news, np.zeros(1), exchange="NOPE")


# -- the panel columns --------------------------------------------------------------------------
def test_sentiment_panel_columns():
    dates = pd.bdate_range("2010-01-04", "2010-01-08").astype("datetime64[us]")
    panel = pd.DataFrame({"close": 1.0}, index=pd.MultiIndex.from_product(
        [dates, ["AAPL", "MSFT"]], names=["date", "ticker"]))
    panel = panel.drop((pd.Timestamp("2010-01-06"), "MSFT"))  # MSFT has no bar that day
    news = news_frame(("2010-01-04", "10:00", "AAPL"), ("2010-01-04", "11:00", "AAPL"),
                      ("2010-01-05", "18:00", "MSFT"), ("2010-01-07", "10:00", "MSFT"),
                      ("2010-01-05", "10:00", "IBM"), ("2010-01-08", "17:00", "AAPL"))
    daily = daily_sentiment(news, np.array([0.2, 0.4, 1.0, -0.5, 0.9, 0.7]))
    before = panel.copy()
    out = sentiment_panel_columns(panel, daily)
    pd.testing.assert_frame_equal(panel, before)  # pure
    assert out.index.equals(panel.index)
    assert out["sentiment"].dtype == np.float64 and out["news_count"].dtype == np.float64
    got = out[["sentiment", "news_count"]]
    assert got.loc[(pd.Timestamp("2010-01-04"), "AAPL")].tolist() == pytest.approx([0.3, 2.0])
    # Tuesday-evening MSFT news belongs to Wednesday, when MSFT has no bar: it waits for Thursday
    assert got.loc[(pd.Timestamp("2010-01-07"), "MSFT")].tolist() == pytest.approx([0.25, 2.0])
    assert got["news_count"].sum() == 4.0  # IBM (not in the panel) and after the last bar: dropped
    assert (got.loc[got["news_count"] == 0, "sentiment"] == 0.0).all()


def test_panel_columns_on_the_bundled_panel():
    from qseq.data import bundled

    panel = bundled.load_dataset("sp500_524")
    dates = panel.index.get_level_values("date")
    panel = panel[(dates >= "2010-01-01") & (dates <= "2010-02-28")
                  & panel.index.get_level_values("ticker").isin(["AAPL", "MSFT", "JPM"])]
    news = read_news(NEWS)
    daily = daily_sentiment(news, LexiconScorer().score(news["headline"]))
    out = sentiment_panel_columns(panel, daily)
    assert out["news_count"].sum() == len(news)
    joined = out.loc[out["news_count"] > 0, ["sentiment", "news_count"]]
    expected = daily.astype(np.float64)
    expected.index = expected.index.set_levels(expected.index.levels[0].astype("datetime64[us]"),
                                               level="date")
    pd.testing.assert_frame_equal(joined, expected, check_names=False)


def test_panel_columns_errors():
    with pytest.raises(DataError, match=r"panel must be indexed \(date, ticker\)"):
        sentiment_panel_columns(pd.DataFrame({"close": [1.0]}), pd.DataFrame())
