"""Anomaly results as tables that scheduled jobs and notebooks read without parsing HTML:
per-bar scores and events, each as Parquet and CSV, written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from qseq._io import atomic_write_with


def score_table(scores: pd.DataFrame, threshold: float, features: Sequence[str]) -> pd.DataFrame:
    """Per-bar rows: date, ticker, score, threshold, flagged, driver (the feature with the
    largest contribution on that bar) and one ``contrib_<feature>`` column per feature (its
    normalised squared reconstruction error; the score is their max, or their mean with
    ``score_combine="mean"``)."""
    contrib = scores[list(features)].to_numpy(np.float64)
    driver = np.asarray(features, dtype=object)[np.nanargmax(np.nan_to_num(contrib, nan=-np.inf), axis=1)] \
        if len(scores) else np.array([], dtype=object)
    out = pd.DataFrame({"date": pd.to_datetime(scores["date"]).to_numpy(),
                        "ticker": scores["ticker"].astype(str).to_numpy(),
                        "score": scores["score"].to_numpy(np.float64), "threshold": float(threshold),
                        "flagged": scores["score"].to_numpy(np.float64) > threshold, "driver": driver})
    for j, name in enumerate(features):
        out[f"contrib_{name}"] = contrib[:, j]
    return out


def write_tables(scores: pd.DataFrame, events: pd.DataFrame, threshold: float,
                 features: Sequence[str], stem: str | Path) -> list[Path]:
    """Write ``<stem>_scores`` and ``<stem>_events`` as ``.parquet`` and ``.csv``; returns the
    four paths. Events keep the columns of :func:`qseq.anomaly.events.merge_events`."""
    stem = Path(stem)
    tables = {"scores": score_table(scores, threshold, features), "events": events}
    written = []
    for name, frame in tables.items():
        for suffix, write in ((".parquet", lambda f, p: f.to_parquet(p, index=False)),
                              (".csv", lambda f, p: f.to_csv(p, index=False))):
            path = stem.with_name(f"{stem.name}_{name}{suffix}")
            atomic_write_with(path, lambda tmp, f=frame, w=write: w(f, tmp))
            written.append(path)
    return written
