"""Flagged bars -> events: runs of consecutive flagged bars of one ticker become one event."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

EVENT_COLUMNS = ("ticker", "start", "end", "bars", "peak_date", "peak_score", "driver",
                 "contributions")


def flagged_runs(flags: np.ndarray, ticker: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``(start, stop)`` positions of runs of True in ``flags`` [M] that stay within
    one ticker. Rows must be sorted by ticker then date (consecutive rows = consecutive bars)."""
    flags = np.asarray(flags, dtype=bool)
    if not flags.any():
        return []
    breaks = np.ones(len(flags), dtype=bool)
    breaks[1:] = (~flags[:-1]) | (ticker[1:] != ticker[:-1])
    starts = np.flatnonzero(flags & breaks)
    ends = []
    for s in starts:
        e = s + 1
        while e < len(flags) and flags[e] and ticker[e] == ticker[s]:
            e += 1
        ends.append(e)
    return list(zip(starts.tolist(), ends, strict=True))


def merge_events(scores: pd.DataFrame, threshold: float, features: Sequence[str],
                 top: int = 3) -> pd.DataFrame:
    """Events from a per-bar score frame (columns date, ticker, score and one contribution
    column per feature, sorted by ticker then date).

    A bar is flagged when ``score > threshold``. Each event has its first and last bar, bar
    count, the date and value of its peak score, the feature that contributed most (summed
    over the event's bars: ``driver``) and the top ``top`` features with their share of the
    event's total contribution (``contributions``), plus one ``share_<feature>`` column each.
    """
    score = scores["score"].to_numpy()
    tick = scores["ticker"].to_numpy()
    runs = flagged_runs(score > threshold, tick)
    feats = list(features)
    contrib = scores[feats].to_numpy(dtype=np.float64) if feats else np.zeros((len(scores), 0))
    dates = scores["date"].to_numpy()
    rows = []
    for start, stop in runs:
        peak = start + int(np.argmax(score[start:stop]))
        total = contrib[start:stop].sum(axis=0)
        share = total / total.sum() if total.sum() > 0 else np.zeros_like(total)
        order = np.argsort(-share)
        rows.append({
            "ticker": tick[start], "start": dates[start], "end": dates[stop - 1],
            "bars": stop - start, "peak_date": dates[peak], "peak_score": float(score[peak]),
            "driver": feats[order[0]] if feats else "",
            "contributions": ", ".join(f"{feats[i]} {share[i]:.0%}" for i in order[:top]),
            **{f"share_{f}": float(share[i]) for i, f in enumerate(feats)},
        })
    columns = [*EVENT_COLUMNS, *(f"share_{f}" for f in feats)]
    return pd.DataFrame(rows, columns=columns)
