"""The cross-section study (issue 12): a panel GRU vs reversal, momentum and ridge on the bundled
524-stock S&P 500 panel, scored by daily cross-sectional rank IC.

Runs ``pipelines/sp500_524_cross_section.yaml`` (or reads a finished run with ``--run-dir``)
and prints, per model: rank IC at h=1 and h=5 with Newey-West t-statistics, the long-short
top/bottom decile book on the 1-day forecast after costs, and the difference of daily rank IC
between the GRU and each baseline (mean, Newey-West t). Then the ablation that explains the
result: the same fixed signals' rank IC on the *training* dates (what a learner could see).

    python bench/cross_section.py                        # runs the pipeline (a few minutes)
    python bench/cross_section.py --run-dir reports/sp500_524_cross_section/2010-08-20
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "pipelines" / "sp500_524_cross_section.yaml"


def daily_rank_ic(frame: pd.DataFrame) -> pd.Series:
    """Spearman correlation of y_hat and y_true across tickers on each date (>= 20 tickers)."""
    ranked = frame.assign(a=frame.groupby("date")["y_hat"].rank(),
                          b=frame.groupby("date")["y_true"].rank())
    counts = ranked.groupby("date").size()
    corr = ranked.groupby("date")[["a", "b"]].corr().xs("a", level=1)["b"]
    return corr[counts.reindex(corr.index) >= 20].dropna()


def nw_t(d: pd.Series, horizon: int) -> float:
    from qseq.metrics import newey_west_variance

    n = len(d)
    lags = max(horizon - 1, int(4 * (n / 100) ** (2 / 9)))
    lrv = newey_west_variance(d.to_numpy(), lags)
    return float(d.mean() / np.sqrt(lrv / n)) if lrv > 0 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", type=Path, help="a finished run folder (skip the run)")
    args = parser.parse_args()
    run_dir = args.run_dir
    if run_dir is None:
        from qseq.pipeline.run import run_pipeline

        run_dir = run_pipeline(SPEC, out_root=ROOT / "reports", offline=True).run_dir
    fc = pd.read_parquet(run_dir / "forecasts.parquet")
    metrics = pd.read_parquet(run_dir / "metrics.parquet")
    folds = pd.read_parquet(run_dir / "folds.parquet")
    model = next(m for m in fc["model"].unique() if m not in
                 ("random_walk", "reversal_1", "reversal_5", "momentum_20", "ridge"))
    print(f"run: {run_dir}\ntest {folds['test_first'].iloc[0]} .. {folds['test_last'].iloc[0]}, "
          f"{int(folds['n_train'].iloc[0])} training windows, model {model}, best epoch "
          f"{int(folds['best_epoch'].iloc[0])}")
    strat = metrics[metrics["kind"] == "strategy"].pivot_table(index="model", columns="metric",
                                                               values="value")
    ics = {(m, h): daily_rank_ic(part) for (m, h), part in fc.groupby(["model", "horizon"])}
    rows = []
    for m in sorted(fc["model"].unique()):
        if m == "random_walk":
            continue
        row = {"model": m}
        for h in (1, 5):
            ic = ics[(m, h)]
            row[f"rank_ic h{h}"] = f"{ic.mean():+.4f} (t {nw_t(ic, h):+.2f})"
            if m != model:
                d = (ics[(model, h)] - ic).dropna()
                row[f"{model} - it h{h}"] = f"{d.mean():+.4f} (t {nw_t(d, h):+.2f})"
        if m in strat.index:
            row["LS decile Sharpe"] = f"{strat.loc[m, 'sharpe']:+.2f}"
            row["ann. return"] = f"{strat.loc[m, 'ann_return']:+.1%}"
            row["turnover/yr"] = f"{strat.loc[m, 'turnover']:.0f}"
        rows.append(row)
    print(pd.DataFrame(rows).fillna("").to_string(index=False))

    # Ablation: what the fixed signals did on the training dates (where a learner looks).
    from qseq.data.bundled import load_dataset

    panel = load_dataset("sp500_524")
    close = panel["close"].unstack("ticker").sort_index()
    r = np.log(close).diff()
    excess = r.sub(r.mean(axis=1), axis=0)
    first_test = pd.Timestamp(folds["test_first"].iloc[0])
    train_last = pd.Timestamp(folds["train_last_target"].iloc[0])
    signals = {"reversal_1": -r, "reversal_5": -r.rolling(5).sum(), "momentum_20": r.rolling(20).sum()}
    print("\nfixed signals' rank IC by period (excess forward returns; t: Newey-West)")
    for name, sig in signals.items():
        cells = [name]
        for h in (1, 5):
            fwd = excess.rolling(h).sum().shift(-h)
            for label, keep in (("train", sig.index <= train_last - pd.tseries.offsets.BDay(h)),
                                ("test", sig.index >= first_test)):
                s, f = sig[keep], fwd[keep]
                per = pd.Series({d: s.loc[d].rank().corr(f.loc[d].rank())
                                 for d in s.index if s.loc[d].notna().sum() >= 20
                                 and f.loc[d].notna().sum() >= 20}).dropna()
                cells.append(f"{label} h{h} {per.mean():+.4f} (t {nw_t(per, h):+.2f})")
        print("  " + "  ".join(cells))


if __name__ == "__main__":
    main()
