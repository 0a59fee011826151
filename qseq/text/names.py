"""Name tables and the held-out comparison of name classifiers behind ``qseq text
classify-names``: the char-RNN against the majority class and a character n-gram logistic
regression, scored on the same stratified split, with an exact McNemar test against the n-gram
model (the stronger baseline on company names, see ``bench/charrnn_eval.py``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from qseq.config import CharRNNConfig
from qseq.errors import DataError

__all__ = ["read_names", "NameComparison", "compare_name_classifiers"]


def read_names(path: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """``(names, labels)`` from a CSV or Parquet file with a ``name`` column and a ``label``
    (or ``sector``) column. Repeated names keep their first row, so a name cannot sit on both
    sides of a split. A DataError names the file and the problem (missing file or column, an
    empty name or label with its 1-based row)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no names file {path}; check the path")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path).astype(str)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError,
            ValueError) as exc:
        raise DataError(f"cannot read {path} ({str(exc).splitlines()[0] if str(exc) else exc!r}); "
                        "expected a CSV or Parquet table with columns name,label") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    label = "label" if "label" in frame.columns else "sector"
    for column in ("name", label):
        if column not in frame.columns:
            raise DataError(f"{path} has no {column!r} column (found {list(frame.columns)}); "
                            "expected columns name,label (or name,sector)")
    names, labels = frame["name"].str.strip(), frame[label].str.strip()
    for what, values in (("name", names), (label, labels)):
        empty = np.flatnonzero((values == "").to_numpy())
        if empty.size:
            raise DataError(f"{path}: row {empty[0] + 1} has an empty {what}; fill or drop it")
    keep = ~names.duplicated().to_numpy()
    return names[keep].tolist(), labels[keep].tolist()


@dataclass
class NameComparison:
    """``table``: one row per model (majority class, n-gram LR, char-RNN) with accuracy, macro
    F1 and the exact McNemar p-value against the n-gram LR on the held-out names; ``test_names``,
    ``test_labels`` and ``predictions`` (model -> labels [N_test]) for inspection."""

    table: pd.DataFrame
    test_names: list[str]
    test_labels: list[Any]
    predictions: dict[str, np.ndarray]


def _mcnemar_p(truth: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    from statsmodels.stats.contingency_tables import mcnemar

    ra, rb = a == truth, b == truth
    table = [[int(np.sum(ra & rb)), int(np.sum(ra & ~rb))],
             [int(np.sum(~ra & rb)), int(np.sum(~ra & ~rb))]]
    return float(mcnemar(table, exact=True).pvalue)


def compare_name_classifiers(names: list[str], labels: list[Any], config: CharRNNConfig, *,
                             test_size: float = 0.2) -> NameComparison:
    """Hold out a stratified ``test_size`` of ``names`` [N] (seeded by ``config.seed``), fit the
    majority class, the character n-gram logistic regression (C by inner CV on the training
    names) and the char-RNN classifier on the rest, and score all three on the held-out names."""
    from sklearn.metrics import accuracy_score, f1_score

    from qseq.text.chars import (
        fit_char_classifier,
        majority_baseline,
        ngram_logistic_baseline,
        stratified_split,
    )

    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not (
            0 < test_size < 1):
        raise DataError(f"the held-out share must be in (0, 1), got {test_size!r}")
    y = np.asarray(labels, dtype=object)
    train, test = stratified_split(labels, test_size=test_size, seed=config.seed)
    train_names, test_names = [names[i] for i in train], [names[i] for i in test]
    predictions = {
        "majority class": majority_baseline(y[train].tolist(), len(test)),
        "char n-gram LR": ngram_logistic_baseline(train_names, y[train].tolist(), test_names,
                                                  seed=config.seed),
        f"char-RNN ({config.cell})": fit_char_classifier(train_names, y[train].tolist(),
                                                         config).predict(test_names),
    }
    truth = y[test]
    rows = []
    for model, pred in predictions.items():
        pred = np.asarray(pred, dtype=object)
        rows.append({"model": model, "accuracy": accuracy_score(truth, pred),
                     "macro_f1": f1_score(truth, pred, average="macro", zero_division=0),
                     "mcnemar_p_vs_ngram": np.nan if model == "char n-gram LR" else
                     _mcnemar_p(truth, pred, np.asarray(predictions["char n-gram LR"], dtype=object))})
    return NameComparison(pd.DataFrame(rows).set_index("model"), test_names, truth.tolist(),
                          predictions)
