"""AnomalyDetector end to end on real S&P 500 bars: periods, scores, events, attribution,
persistence and leakage (scaler, score normalisation and threshold see only their rows)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
import torch

from qseq.anomaly import AnomalyDetector
from qseq.anomaly.inject import inject_anomalies
from qseq.anomaly.scores import MIN_UNIT_BARS
from qseq.errors import CheckpointError, ConfigError, DataError, NotFittedError

from .conftest import TEST_START, TRAIN_END, tiny_detector


def test_periods_are_chronological_with_a_purge_gap(fitted, spx):
    sd = fitted.split_dates_
    assert sd["train"][1] < sd["val"][0] and sd["val"][1] < sd["calibration"][0]
    assert sd["calibration"][1] <= TRAIN_END == fitted.train_end_
    dates = spx.index.get_level_values("date")
    gap = ((dates > pd.Timestamp(sd["val"][1])) & (dates < pd.Timestamp(sd["calibration"][0]))).sum()
    assert gap >= fitted.config.lookback  # no calibration window shares a bar with a val window


def test_score_frame_and_calibrated_false_alarms(fitted, spx):
    scores = fitted.score(spx)
    feats = list(fitted.config.features)
    assert list(scores.columns) == ["date", "ticker", "score", "window_score", *feats, "flag"]
    assert fitted.config.score_combine == "calibrated"  # the default
    assert np.allclose(scores["score"], scores[feats].max(axis=1))
    dates = pd.to_datetime(scores["date"])
    # one row per bar that ends a complete window (the first bars of the data have none)
    assert len(scores) == len(fitted.scaled_windows(spx)) < len(spx)
    in_train = (dates >= fitted.split_dates_["train"][0]) & (dates <= fitted.split_dates_["train"][1])
    # without the trailing scale, contributions are errors over the ticker's training mean:
    # exactly 1 on average over the training bars
    plain = copy.copy(fitted)
    plain.config = fitted.config.replace(score_window=0, score_combine="max")
    assert np.allclose(plain.score(spx)[in_train.to_numpy()][feats].mean(), 1.0, atol=1e-9)
    calib_bars = ((dates >= fitted.split_dates_["calibration"][0]) & (dates <= TRAIN_END)).to_numpy()
    calib = scores[calib_bars]
    assert calib["flag"].mean() <= 0.05  # target 1% per bar; a few bars of slack on ~150 bars
    # calibrated: each contribution over its 99th percentile on the calibration bars
    raw = copy.copy(fitted)
    raw.config = fitted.config.replace(score_combine="max")
    raw_scores = raw.score(spx)
    # ... on the latest normal bars: the calibration bars and at least MIN_UNIT_BARS in all
    units = fitted.split_dates_["units"]
    unit_bars = ((dates >= units[0]) & (dates <= units[1])).to_numpy()
    assert units[1] == fitted.split_dates_["calibration"][1]
    normal_bars = int((dates <= TRAIN_END).sum())
    assert unit_bars.sum() >= min(MIN_UNIT_BARS, normal_bars) and (unit_bars >= calib_bars).all()
    assert unit_bars.sum() > calib_bars.sum()  # this short history: every normal bar
    want = np.quantile(raw_scores[feats].to_numpy()[unit_bars], 0.99, axis=0)
    np.testing.assert_allclose(fitted.feature_scale_, want, rtol=1e-9)
    np.testing.assert_allclose(scores[feats].to_numpy(), raw_scores[feats].to_numpy() / want,
                               rtol=1e-9)
    np.testing.assert_allclose(np.quantile(scores[feats].to_numpy()[unit_bars], 0.99, axis=0), 1.0,
                               rtol=1e-9)


def _hits(events: pd.DataFrame, days: pd.Series) -> pd.DataFrame:
    """Events that contain any of ``days``."""
    inside = [((events["start"] <= d) & (events["end"] >= d)).to_numpy() for d in days]
    return events[np.any(inside, axis=0)] if inside else events.iloc[:0]


@pytest.mark.parametrize("kind,drivers", [
    ("spike", ("log_return",)),
    ("volume_surge", ("log_volume_change", "volume_zscore")),
    ("split", ("log_return", "log_volume_change")),
])
def test_large_injected_anomalies_raise_the_score_and_are_attributed(fitted, spx, kind, drivers):
    injected, labels = inject_anomalies(spx, [kind], TEST_START, per_ticker=6, seed=3)
    clean = fitted.score(spx).set_index("date")
    dirty = fitted.score(injected).set_index("date")
    large = labels[labels["size"] == max(labels["size"])]
    assert large["event"].nunique() >= 2
    for _, ev in large.groupby("event"):
        day = dirty.loc[ev["date"], "score"].idxmax()
        assert dirty.loc[day, "score"] > max(3 * clean.loc[day, "score"],
                                             fitted.threshold_.value), (kind, day)
        feats = list(fitted.config.features)
        assert dirty.loc[day, feats].astype(float).idxmax() in drivers, (kind, day)


def test_volume_surges_become_events_driven_by_volume(fitted, spx):
    injected, labels = inject_anomalies(spx, ["volume_surge"], TEST_START, per_ticker=6, seed=3)
    events = fitted.detect(injected)
    for _, ev in labels[labels["size"] == 10.0].groupby("event"):
        hit = _hits(events, ev["date"])
        assert len(hit) == 1, (ev, events)
        assert hit["driver"].iloc[0] in ("log_volume_change", "volume_zscore")


def test_save_load_round_trip(fitted, spx, tmp_path):
    fitted.save(tmp_path / "det")
    again = AnomalyDetector.load(tmp_path / "det", device="cpu")
    pd.testing.assert_frame_equal(again.score(spx), fitted.score(spx))
    assert again.threshold_ == fitted.threshold_
    (tmp_path / "det" / "model.safetensors").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="checksum"):
        AnomalyDetector.load(tmp_path / "det")


def test_a_forecaster_checkpoint_is_refused(tmp_path, spx):
    import qseq

    qseq.Forecaster("gru", lookback=8, horizons=1, hidden_size=4, num_layers=1,
                    train=qseq.TrainConfig(epochs=1)).fit(spx).save(tmp_path / "fc")
    with pytest.raises(CheckpointError, match="not an anomaly detector"):
        AnomalyDetector.load(tmp_path / "fc")


def test_user_mistakes(fitted, spx):
    with pytest.raises(NotFittedError, match="call fit"):
        tiny_detector().score(spx)
    with pytest.raises(ConfigError, match="'gru' is of kind 'forecast', not 'autoencoder'"):
        AnomalyDetector("gru")
    with pytest.raises(ConfigError, match="false-alarm rate"):
        AnomalyDetector(target_far=0.7)
    with pytest.raises(ConfigError, match="bad train_end"):
        AnomalyDetector(train_end="2011-13-45")
    other = spx.rename(index={"^GSPC": "OTHER"}, level="ticker")
    with pytest.raises(DataError, match="not seen in training"):
        fitted.score(other)
    with pytest.raises(DataError, match="before the first complete window"):
        tiny_detector(train_end="2000-01-01").fit(spx)


# -- leakage ------------------------------------------------------------------------------------


def _perturb(panel: pd.DataFrame, after: str, seed: int) -> pd.DataFrame:
    """Replace every bar after ``after`` with different (valid) random bars."""
    out = panel.copy()
    later = np.asarray(out.index.get_level_values("date") > pd.Timestamp(after))
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.normal(0, 0.05, later.sum()))
    for col in ("open", "high", "low", "close"):
        out.loc[later, col] = out.loc[later, col].to_numpy() * scale
    out.loc[later, "high"] *= 1.01
    out.loc[later, "volume"] = out.loc[later, "volume"].to_numpy() * 7.0
    return out


def _state(det: AnomalyDetector) -> dict[str, np.ndarray]:
    return {"mean": det.scaler_.mean_, "std": det.scaler_.std_, "bar": det.bar_norm_.scale_,
            "window": det.window_norm_.scale_,
            **{k: v.numpy() for k, v in det.model_.state_dict().items()}}


def test_nothing_after_train_end_reaches_the_fit(fitted, spx):
    again = tiny_detector().fit(_perturb(spx, TRAIN_END, 0))
    for key, value in _state(fitted).items():
        assert np.array_equal(value, _state(again)[key]), key
    assert again.threshold_ == fitted.threshold_


def test_calibration_rows_set_the_threshold_only(fitted, spx):
    calib_start = pd.Timestamp(fitted.split_dates_["calibration"][0])
    # perturb from the first calibration bar; its window's earlier bars are all in the purge gap
    again = tiny_detector().fit(_perturb(spx, str((calib_start - pd.Timedelta(days=1)).date()), 1))
    for key, value in _state(fitted).items():
        assert np.array_equal(value, _state(again)[key]), key
    assert again.threshold_.value != fitted.threshold_.value


def test_training_rows_do_reach_scaler_and_normalisation(fitted, spx):
    panel = spx.copy()
    row = panel.index[panel.index.get_level_values("date") >= "2009-06-01"][0]
    panel.loc[row, ["open", "high", "low", "close"]] *= 1.1
    again = tiny_detector().fit(panel)
    assert not np.array_equal(again.scaler_.mean_, fitted.scaler_.mean_)
    assert not np.array_equal(again.bar_norm_.scale_, fitted.bar_norm_.scale_)


def test_fit_is_deterministic(fitted, spx):
    again = tiny_detector().fit(spx)
    for k, v in fitted.model_.state_dict().items():
        assert torch.equal(v, again.model_.state_dict()[k]), k
    assert again.threshold_ == fitted.threshold_
    pd.testing.assert_frame_equal(again.score(spx), fitted.score(spx))


@pytest.mark.parametrize("after", ["2010-06-30", TEST_START])
def test_scores_are_causal_a_changed_future_leaves_past_scores_unchanged(fitted, spx, after):
    clean = fitted.score(spx)
    dirty = fitted.score(_perturb(spx, after, 2))
    past = pd.to_datetime(clean["date"]) <= pd.Timestamp(after)
    pd.testing.assert_frame_equal(dirty[past.to_numpy()], clean[past])
    later = pd.to_datetime(clean["date"]) > pd.Timestamp(after)
    assert not np.allclose(dirty.loc[later.to_numpy(), "score"], clean.loc[later, "score"])


def test_score_settings_are_checked():
    with pytest.raises(ConfigError, match="score_window must be an integer >= 0"):
        AnomalyDetector(score_window=-1)
    with pytest.raises(ConfigError, match="unknown score combination 'sum'"):
        AnomalyDetector(score_combine="sum")


def test_a_checkpoint_of_the_earlier_scoring_is_refused(fitted, tmp_path):
    import json

    fitted.save(tmp_path / "det")
    path = tmp_path / "det" / "config.json"
    saved = json.loads(path.read_text())
    del saved["scoring"]
    path.write_text(json.dumps(saved))
    with pytest.raises(CheckpointError, match="scoring.*re-train the detector"):
        AnomalyDetector.load(tmp_path / "det")
