"""How good an order-book model is, and against what.

Per horizon k, on the windows of one split:

- direction targets: accuracy and macro F1 (the mean of the three classes' F1, so a model that
  always says "stationary" scores low) of the model, the majority class of the training labels,
  and a multinomial logistic regression on order-flow and depth imbalance (the classic
  microstructure predictors: OFI summed over the last 1, 10 and ``lookback`` samples, the
  level-wise imbalance of the best 5 levels, the cumulative depth imbalance), fit on the
  training windows with balanced class weights;
- return targets: MSE against the zero forecast and a linear regression on the same inputs,
  and the correlation of forecast and outcome.

:func:`evaluate_blocks` refits everything on chronological blocks (expanding training, purged)
and reports each method's mean over the test blocks with a t confidence interval, and the
model's difference to the logistic baseline with its interval and p-value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from qseq.data.windows import Windows
from qseq.lob.book import Book
from qseq.lob.labels import CLASSES

if TYPE_CHECKING:
    from qseq.config import LobConfig
    from qseq.lob.model import LobForecaster
    from qseq.lob.windows import LobWindowsInfo

BASELINE_LEVELS = 5  # level-wise imbalance columns the logistic baseline reads


def baseline_inputs(book: Book, info: LobWindowsInfo, lookback: int) -> np.ndarray:
    """[R, D] float64 imbalance inputs of every sampled row (causal: each row reads its own and
    earlier samples): OFI summed over the last 1, 10 and ``lookback`` samples, the level-wise
    imbalance of the best levels, and the cumulative depth imbalance of all levels."""
    from qseq.lob.features import depth_imbalance, imbalance, order_flow_imbalance

    sampled = Book(info.time, *(getattr(book, c)[info.index]
                                for c in ("ask_price", "ask_size", "bid_price", "bid_size")))
    ofi = order_flow_imbalance(book, info.index)[:, 0]
    csum = np.concatenate([[0.0], np.cumsum(np.nan_to_num(ofi))])
    rows = np.arange(len(ofi))
    sums = [csum[rows + 1] - csum[np.maximum(rows + 1 - w, 0)] for w in (1, 10, lookback)]
    cols = [np.stack(sums, axis=1), imbalance(sampled)[:, :BASELINE_LEVELS],
            depth_imbalance(sampled)[:, -1:]]
    return np.nan_to_num(np.concatenate(cols, axis=1))


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Accuracy and macro F1 of class ids [N] (every class counted, present or not)."""
    from sklearn.metrics import f1_score

    if len(y_true) == 0:
        return {"accuracy": float("nan"), "macro_f1": float("nan"), "n": 0}
    return {"accuracy": float(np.mean(y_true == y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, labels=list(range(len(CLASSES))),
                                       average="macro", zero_division=0)),
            "n": int(len(y_true))}


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """[3, 3] counts: rows the true class (down, stationary, up), columns the predicted one."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y_true, y_pred, labels=list(range(len(CLASSES))))


def _logistic(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(y_train)) < 2:
        return np.full(len(x_test), y_train[0] if len(y_train) else 1)
    model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced",
                                                               max_iter=500, random_state=seed))
    return model.fit(x_train, y_train).predict(x_test)


def _linear(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(x_train, y_train).predict(x_test)


def _regression_scores(y: np.ndarray, y_hat: np.ndarray) -> dict[str, float]:
    mse = float(np.mean((y - y_hat) ** 2))
    zero = float(np.mean(y**2))
    corr = float(np.corrcoef(y, y_hat)[0, 1]) if np.std(y_hat) > 0 and len(y) > 2 else float("nan")
    return {"mse": mse, "mse_ratio": mse / zero if zero > 0 else float("nan"), "corr": corr,
            "n": int(len(y))}


def compare(forecaster: LobForecaster, part: Windows, train: Windows, book: Book,
            info: LobWindowsInfo) -> pd.DataFrame:
    """Scores of the model and the baselines on the windows ``part``, one row per (k, method);
    baselines are fit on the ``train`` windows. Direction: accuracy, macro_f1, n, and
    ``frame.attrs["confusion"]`` {k: {method: [3, 3] counts as nested lists}}; return:
    mse, mse_ratio (to the zero forecast), corr, n."""
    cfg = forecaster.config
    inputs = baseline_inputs(book, info, cfg.lookback)
    x_tr, x_te = inputs[train.anchors], inputs[part.anchors]
    out = forecaster.predict_windows(part)
    rows, confusions = [], {}
    for j, k in enumerate(cfg.horizons):
        y_tr, y = train.y[:, j], part.y[:, j]
        if cfg.target == "direction":
            y_tr, y = y_tr.astype(np.int64), y.astype(np.int64)
            majority = np.bincount(y_tr, minlength=3).argmax() if len(y_tr) else 1
            preds = {"model": out[:, j].argmax(axis=1), "majority": np.full(len(y), majority),
                     "logistic_imbalance": _logistic(x_tr, y_tr, x_te, cfg.seed)}
            for method, pred in preds.items():
                rows.append({"k": k, "method": method, **classification_scores(y, pred)})
            # lists, not arrays: pandas compares attrs when frames are concatenated
            confusions[int(k)] = {m: confusion(y, pred).tolist() for m, pred in preds.items()}
        else:
            y_tr = forecaster.target_scaler_.inverse(train.y)[:, j]  # log returns
            y = forecaster.target_scaler_.inverse(part.y)[:, j]
            preds = {"model": out[:, j], "zero": np.zeros(len(y)),
                     "linear_imbalance": _linear(x_tr, y_tr, x_te)}
            for method, pred in preds.items():
                rows.append({"k": k, "method": method, **_regression_scores(y, pred)})
    frame = pd.DataFrame(rows).set_index(["k", "method"])
    if confusions:
        frame.attrs["confusion"] = confusions
    return frame


def evaluate_blocks(book: Book, config: LobConfig, n_blocks: int = 5, *, device: str = "auto",
                    expanding: bool = True, progress: Any = None) -> pd.DataFrame:
    """Refit on ``n_blocks`` chronological test blocks (:func:`qseq.lob.windows.block_folds`,
    purged by lookback + max k) and summarise over blocks.

    Returns one row per (k, method) with the mean of the main score over blocks (``macro_f1``
    for direction, ``mse_ratio`` for returns), its 95% t interval (``ci_low``, ``ci_high``),
    ``blocks``, and for the model the mean difference to the imbalance baseline
    (``diff_vs_baseline``, its interval and a two-sided t-test ``p_value``). Direction also
    gets the mean ``accuracy`` over blocks and ``table.attrs["confusion"]``: {k: {method:
    [3, 3] counts summed over the test blocks}} (rows true, columns predicted: down,
    stationary, up). ``progress``: an optional callable told ``(block, n_blocks)`` after each
    block.
    """
    from scipy import stats

    from qseq.lob.features import sample
    from qseq.lob.model import LobForecaster
    from qseq.lob.windows import block_folds

    n = len(sample(book, config.sampling)[0])
    purge = config.purge or config.lookback + max(config.horizons)
    folds = block_folds(n, n_blocks, purge, val=config.val_frac, expanding=expanding)
    scores, pooled = [], {}
    for b, split in enumerate(folds):
        model = LobForecaster(config, device=device).fit(book, split=split)
        for k, by_method in model.metrics_["test"].attrs.get("confusion", {}).items():
            for method, counts in by_method.items():
                total = pooled.setdefault(k, {}).setdefault(method, np.zeros((3, 3), np.int64))
                total += np.asarray(counts, np.int64)
        frame = model.metrics_["test"].reset_index()
        frame["block"] = b
        scores.append(frame)
        if progress is not None:
            progress(b + 1, len(folds))
    table = pd.concat(scores, ignore_index=True)
    score = "macro_f1" if config.target == "direction" else "mse_ratio"
    baseline = "logistic_imbalance" if config.target == "direction" else "linear_imbalance"
    t = stats.t.ppf(0.975, max(n_blocks - 1, 1))
    rows = []
    for (k, method), grp in table.groupby(["k", "method"], sort=False):
        values = grp.sort_values("block")[score].to_numpy()
        half = t * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
        row = {"k": k, "method": method, score: values.mean(), "ci_low": values.mean() - half,
               "ci_high": values.mean() + half, "blocks": len(values)}
        if score == "macro_f1":
            row["accuracy"] = grp["accuracy"].mean()
        if method == "model":
            base = table[(table.k == k) & (table.method == baseline)].sort_values("block")[score]
            diff = values - base.to_numpy()
            dhalf = t * diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            p = (float(stats.ttest_1samp(diff, 0.0).pvalue) if len(diff) > 1 and diff.std() > 0
                 else float("nan"))
            row.update(diff_vs_baseline=diff.mean(), diff_low=diff.mean() - dhalf,
                       diff_high=diff.mean() + dhalf, p_value=p)
        rows.append(row)
    out = pd.DataFrame(rows).set_index(["k", "method"])
    if pooled:
        out.attrs["confusion"] = {k: {m: c.tolist() for m, c in by.items()}
                                  for k, by in pooled.items()}
    return out


def confusion_text(counts: np.ndarray) -> str:
    """A [3, 3] confusion matrix as aligned text lines (rows true, columns predicted)."""
    counts = np.asarray(counts)
    labels = [f"pred {c}" for c in CLASSES]
    width = max(max(len(lab) for lab in labels), len(str(int(np.max(counts))))) + 2
    rows = [f"true {c}" for c in CLASSES]
    left = max(len(r) for r in rows)
    lines = [" " * left + "".join(f"{lab:>{width}}" for lab in labels)]
    lines += [f"{r:<{left}}" + "".join(f"{int(v):>{width}}" for v in row)
              for r, row in zip(rows, counts, strict=True)]
    return "\n".join(lines)


def verdict(table: pd.DataFrame, target: str = "direction", alpha: float = 0.05) -> str:
    """One sentence: does the model beat the imbalance baseline, and where? ``table``: the
    block summary of :func:`evaluate_blocks` (with intervals and p-values) or one split's
    scores from :func:`compare` (then the sentence says there is no interval)."""
    score = "macro_f1" if target == "direction" else "mse_ratio"
    baseline = "logistic_imbalance" if target == "direction" else "linear_imbalance"
    better = (lambda d: d > 0) if target == "direction" else (lambda d: d < 0)
    ks = list(dict.fromkeys(table.index.get_level_values("k")))
    if "diff_vs_baseline" in table.columns:
        wins, parts = [], []
        for k in ks:
            row = table.loc[(k, "model")]
            d, p = row["diff_vs_baseline"], row["p_value"]
            parts.append(f"k={k}: {d:+.3f} [{row['diff_low']:+.3f}, {row['diff_high']:+.3f}], p={p:.3g}")
            if better(d) and p < alpha:
                wins.append(str(k))
        head = (f"the model's {score} beats the imbalance baseline at k={', '.join(wins)} "
                f"(significant at {alpha:.0%} over {int(table['blocks'].iloc[0])} blocks)" if wins
                else f"no evidence at {alpha:.0%} that the model beats the imbalance baseline")
        return f"{head}; model minus baseline {score}: " + "; ".join(parts)
    parts = [f"k={k}: model {table.loc[(k, 'model'), score]:.3f} vs "
             f"{table.loc[(k, baseline), score]:.3f}" for k in ks]
    return (f"{score} on one test split (no interval; use blocks for one): " + "; ".join(parts))
