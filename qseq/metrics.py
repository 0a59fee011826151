"""The one metrics module: forecast accuracy per horizon, skill against a naive baseline,
strategy metrics and the Diebold-Mariano test.

Forecast frames are tidy: columns ``date`` (anchor), ``ticker``, ``horizon``, ``y_hat``,
``y_true``, ``fold``. Strategy results are the per-bar frames of
:func:`qseq.backtest.strategy.backtest`. Returns are per bar; 252 bars per year by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qseq.errors import ConfigError, DataError

PERIODS_PER_YEAR = 252
FORECAST_COLUMNS = ("date", "ticker", "horizon", "y_hat", "y_true", "fold")
VOL_TARGETS = ("realized_vol", "variance")  # scored with QLIKE; DM tests use QLIKE too
VARIANCE_TARGETS = ("variance",)  # values are variances (realized_vol: volatilities)
LOSSES = ("squared", "absolute", "qlike")


def qlike_losses(y_true: np.ndarray, y_hat: np.ndarray, *, variance: bool = True) -> np.ndarray:
    """Pointwise QLIKE ``s/f - ln(s/f) - 1`` of realized variance ``s`` against forecast ``f``
    (Patton 2011: robust to noise in the realized proxy); inputs are variances, or
    volatilities (squared first) with ``variance=False``. NaN where either is NaN or the
    realized value is <= 0 (a bar with high == low: the loss would be infinite). Forecasts must
    be > 0 (raises DataError otherwise)."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_hat, dtype=np.float64)
    bad = np.isfinite(p) & (p <= 0)
    if bad.any():
        what = "variance" if variance else "volatility"
        raise DataError(f"QLIKE needs positive {what} forecasts; got min y_hat {p[bad].min():.3g} "
                        "(clip the forecasts or use a model with a positive output)")
    if not variance:
        t, p = t**2, p**2
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = t / p
        out = ratio - np.log(ratio) - 1.0
    return np.where(np.isfinite(t) & np.isfinite(p) & (t > 0), out, np.nan)


def qlike(y_true: np.ndarray, y_hat: np.ndarray, *, variance: bool = False) -> float:
    """Mean QLIKE (:func:`qlike_losses`) over the pairs where it is defined; inputs are
    volatilities (the ``realized_vol`` target's units) unless ``variance``."""
    losses = qlike_losses(y_true, y_hat, variance=variance)
    return float(np.nanmean(losses)) if np.isfinite(losses).any() else float("nan")


def qlike_scale(y_true: np.ndarray, y_hat: np.ndarray) -> np.ndarray:
    """Per column [H] of variances [n, H]: ``c = mean(y / f)`` over the finite ratios, the
    factor that minimises QLIKE of ``c f`` (for a forecast ``exp(E[ln v])`` it is Duan's
    smearing factor). The one calibration rule of the variance target's model and baselines."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.asarray(y_true, dtype=np.float64) / np.asarray(y_hat, dtype=np.float64)
    return np.nanmean(np.where(np.isfinite(ratio), ratio, np.nan), axis=0)


def target_losses(y_true: np.ndarray, y_hat: np.ndarray, target: str) -> np.ndarray:
    """The loss each target is scored with, pointwise: QLIKE for volatility and variance
    targets, squared error otherwise."""
    if target in VOL_TARGETS:
        return qlike_losses(y_true, y_hat, variance=target in VARIANCE_TARGETS)
    return (np.asarray(y_hat, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)) ** 2


def loss_name(target: str) -> str:
    """What :func:`target_losses` computes for ``target``, in words."""
    return "QLIKE" if target in VOL_TARGETS else "squared error"


def pesaran_timmermann(y_true: np.ndarray, y_hat: np.ndarray) -> tuple[float, float]:
    """Pesaran-Timmermann (1992) test that the forecast's signs carry information about the
    outcome's: ``(statistic, one-sided p-value)``, N(0, 1) under independence.

    Unlike accuracy against 50%, it accounts for the base rates: in a rising market "always up"
    is right more than half the time and still scores 0. With ``P`` the hit rate, ``Py``/``Px``
    the shares of positive outcomes/forecasts and ``P* = Py Px + (1-Py)(1-Px)``:
    ``PT = (P - P*) / sqrt(V(P) - V(P*))``. NaN when a side never occurs (a constant forecast).
    Zero outcomes are left out; a zero forecast counts as "down".
    """
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_hat, dtype=np.float64)
    keep = np.isfinite(t) & np.isfinite(p) & (t != 0)
    y, x = t[keep] > 0, p[keep] > 0
    n = y.size
    if n < 10:
        return float("nan"), float("nan")
    hit = float(np.mean(y == x))
    py, px = float(y.mean()), float(x.mean())
    p_star = py * px + (1 - py) * (1 - px)
    v_p = p_star * (1 - p_star) / n
    v_star = ((2 * py - 1) ** 2 * px * (1 - px) / n + (2 * px - 1) ** 2 * py * (1 - py) / n
              + 4 * py * px * (1 - py) * (1 - px) / n**2)
    if v_p - v_star <= 0:
        return float("nan"), float("nan")
    from scipy import stats

    stat = (hit - p_star) / np.sqrt(v_p - v_star)
    return float(stat), float(stats.norm.sf(stat))


def _group_corr(frame: pd.DataFrame, key: str, x: str, y: str) -> pd.Series:
    """Pearson correlation of ``x`` and ``y`` within each ``key`` group (vectorised); NaN for
    groups with fewer than 3 rows or no variance."""
    g = frame.groupby(key, sort=True)
    dx = frame[x] - g[x].transform("mean")
    dy = frame[y] - g[y].transform("mean")
    parts = pd.DataFrame({key: frame[key], "xy": dx * dy, "xx": dx * dx, "yy": dy * dy})
    sums = parts.groupby(key, sort=True).agg(["sum", "count"])
    denom = np.sqrt(sums[("xx", "sum")] * sums[("yy", "sum")])
    corr = sums[("xy", "sum")] / denom.where(denom > 0)
    return corr.where(sums[("xy", "count")] >= 3)


def newey_west_variance(d: np.ndarray, lags: int) -> float:
    """Long-run variance of the series ``d`` [n]: autocovariances up to ``lags`` with Bartlett
    weights ``1 - k / (lags + 1)`` (Newey-West 1987), each over ``n``."""
    d = np.asarray(d, dtype=np.float64)
    dc = d - d.mean()
    n = dc.size
    lrv = float(dc @ dc) / n
    for k in range(1, min(lags, n - 1) + 1):
        lrv += 2.0 * (1.0 - k / (lags + 1)) * float(dc[k:] @ dc[:-k]) / n
    return lrv


def _ic_stats(frame: pd.DataFrame, key: str, horizon: int) -> dict[str, float]:
    """Per-period correlations of forecast and outcome, summarised.

    ``key="date"`` (a panel): the cross-sectional ``ic`` and ``rank_ic`` (Pearson / Spearman
    across tickers on each date), their mean, ``*_ir`` (mean / std) and ``*_t``: a Newey-West
    t-statistic of the mean with ``max(horizon - 1, 4 (n/100)^(2/9))`` lags (h-day outcomes
    overlap). ``key="fold"`` (one ticker): the time-series correlation within each fold,
    named ``fold_corr`` / ``fold_rank_corr``, which is not an IC.
    """
    ranked = frame.assign(
        r_hat=frame.groupby(key)["y_hat"].rank(), r_true=frame.groupby(key)["y_true"].rank())
    names = {"ic": "ic", "rank_ic": "rank_ic"} if key == "date" else {
        "ic": "fold_corr", "rank_ic": "fold_rank_corr"}
    out: dict[str, float] = {}
    for base, (x, y) in {"ic": ("y_hat", "y_true"), "rank_ic": ("r_hat", "r_true")}.items():
        per = _group_corr(ranked, key, x, y).dropna()
        name = names[base]
        out[name] = float(per.mean()) if len(per) else float("nan")
        sd = float(per.std(ddof=1)) if len(per) > 1 else float("nan")
        out[f"{name}_ir"] = out[name] / sd if sd > 0 else float("nan")
        if key == "date":
            n = len(per)
            lags = max(horizon - 1, int(4 * (n / 100) ** (2 / 9))) if n else 0
            lrv = newey_west_variance(per.to_numpy(), lags) if n > 2 else float("nan")
            out[f"{name}_t"] = out[name] / np.sqrt(lrv / n) if lrv > 0 else float("nan")
    out[f"{names['ic']}_periods"] = int(_group_corr(ranked, key, "y_hat", "y_true").notna().sum())
    return out


def forecast_metrics(
    forecasts: pd.DataFrame, *, target: str = "log_return", confidence: float = 0.95,
) -> pd.DataFrame:
    """One row per horizon (index ``horizon``) of accuracy for a tidy forecast frame.

    Columns: ``n`` (rows with finite y_hat and y_true), ``mse``, ``mae``; for return targets
    ``dir_acc`` (share of non-zero outcomes whose sign the forecast got right; a zero forecast
    counts as wrong; all-zero forecasts, such as the random walk's, get NaN: they take no side),
    ``dir_n``, ``pt_stat``/``pt_pvalue`` (:func:`pesaran_timmermann`: do the signs carry
    information beyond the base rates?), its Wilson score interval ``dir_ci_low``/``dir_ci_high`` at
    ``confidence`` and ``dir_pvalue`` (exact two-sided binomial test against 0.5); ``ic`` and
    ``rank_ic`` (mean of per-period Pearson / Spearman correlations) with ``ic_ir`` and
    ``rank_ic_ir`` (mean / std of the per-period values) and ``ic_periods``. A period is a date
    (cross-sectional IC) when some date has several tickers, else a fold (time-series IC);
    periods need 3 rows. For ``realized_vol`` targets, ``qlike`` (see :func:`qlike`) replaces
    the directional columns.
    """
    missing = [c for c in FORECAST_COLUMNS if c not in forecasts.columns]
    if missing:
        raise DataError(f"forecast frame lacks columns {missing}; expected {list(FORECAST_COLUMNS)}")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence}")
    frame = forecasts[list(FORECAST_COLUMNS)].copy()
    finite = np.isfinite(frame["y_hat"].astype("float64")) & np.isfinite(frame["y_true"].astype("float64"))
    frame = frame[finite]
    cross_sectional = bool(frame.groupby(["horizon", "date"]).size().max() > 1) if len(frame) else False
    key = "date" if cross_sectional else "fold"
    rows = []
    for horizon, part in frame.groupby("horizon", sort=True):
        t = part["y_true"].to_numpy(np.float64)
        p = part["y_hat"].to_numpy(np.float64)
        err = p - t
        row: dict[str, float] = {"horizon": int(horizon), "n": int(t.size),
                                 "mse": float(np.mean(err**2)), "mae": float(np.mean(np.abs(err)))}
        if target in VOL_TARGETS:
            row["qlike"] = qlike(t, p, variance=target in VARIANCE_TARGETS)
        else:
            nz = t != 0
            hits = int(np.sum(np.sign(p[nz]) == np.sign(t[nz])))
            trials = int(nz.sum())
            row["dir_n"] = trials
            if trials and np.any(p != 0):  # an all-zero forecast (random walk) takes no side
                from scipy import stats

                test = stats.binomtest(hits, trials, 0.5)
                ci = test.proportion_ci(confidence_level=confidence, method="wilson")
                row.update(dir_acc=hits / trials, dir_ci_low=float(ci.low), dir_ci_high=float(ci.high),
                           dir_pvalue=float(test.pvalue))
            else:
                row.update(dir_acc=np.nan, dir_ci_low=np.nan, dir_ci_high=np.nan, dir_pvalue=np.nan)
            row["pt_stat"], row["pt_pvalue"] = pesaran_timmermann(t, p)
        row.update(_ic_stats(part, key, int(horizon) if int(horizon) > 0 else 1))
        rows.append(row)
    if not rows:
        raise DataError("no forecast rows with finite y_hat and y_true; nothing to score")
    return pd.DataFrame(rows).set_index("horizon")


def strategy_metrics(result: pd.DataFrame, periods_per_year: int = PERIODS_PER_YEAR) -> dict[str, float]:
    """Summary of a per-bar backtest result (columns ``net_return``, ``turnover``,
    ``gross_exposure``; simple returns per bar).

    - ``ann_return``: geometric, ``prod(1 + r) ** (periods_per_year / n) - 1``
    - ``ann_vol``: ``std(r, ddof=1) * sqrt(periods_per_year)``
    - ``sharpe``: ``mean(r) / std(r) * sqrt(periods_per_year)`` (no risk-free rate)
    - ``sortino``: ``mean(r) / sqrt(mean(min(r, 0)**2)) * sqrt(periods_per_year)`` (target 0)
    - ``max_drawdown``: worst ``equity / running_peak - 1`` (<= 0), the peak starting at 1.0
    - ``calmar``: ``ann_return / |max_drawdown|``
    - ``turnover``: ``mean(turnover) * periods_per_year`` (annualised one-way-sum turnover)
    - ``hit_rate``: share of bars with ``net_return > 0`` among bars holding a position
    - ``total_return``, ``n_periods``

    Ratios with a zero denominator are NaN.
    """
    for col in ("net_return", "turnover", "gross_exposure"):
        if col not in result.columns:
            raise DataError(f"strategy result lacks column {col!r}; pass the frame from backtest()")
    r = result["net_return"].to_numpy(np.float64)
    n = r.size
    if n == 0:
        raise DataError("strategy result is empty; nothing to score")

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 and np.isfinite(b) else float("nan")

    equity = np.cumprod(1.0 + r)
    total = float(equity[-1] - 1.0)
    ann_return = float(equity[-1] ** (periods_per_year / n) - 1.0) if equity[-1] > 0 else -1.0
    sd = float(np.std(r, ddof=1)) if n > 1 else float("nan")
    downside = float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)))
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    max_dd = float(np.min(equity / peak - 1.0))
    active = result["gross_exposure"].to_numpy(np.float64) > 0
    return {
        "ann_return": ann_return,
        "ann_vol": sd * np.sqrt(periods_per_year),
        "sharpe": ratio(float(np.mean(r)), sd) * np.sqrt(periods_per_year),
        "sortino": ratio(float(np.mean(r)), downside) * np.sqrt(periods_per_year),
        "max_drawdown": max_dd,
        "calmar": ratio(ann_return, abs(max_dd)),
        "turnover": float(result["turnover"].mean() * periods_per_year),
        "hit_rate": float(np.mean(r[active] > 0)) if active.any() else float("nan"),
        "total_return": total,
        "n_periods": n,
    }


@dataclass(frozen=True)
class DMResult:
    """Diebold-Mariano result: ``statistic`` < 0 means the model's loss is lower."""

    statistic: float
    p_value: float
    n: int
    mean_loss_diff: float


def diebold_mariano(
    y_true: np.ndarray, y_model: np.ndarray, y_bench: np.ndarray, *, horizon: int = 1,
    loss: str = "squared",
) -> DMResult:
    """Diebold-Mariano (1995) test of equal accuracy, with the Harvey-Leybourne-Newbold (1997)
    correction.

    Inputs are 1-D and time-ordered [n] (for a panel, average the loss differential across
    tickers per date first). ``d_t = L(y_model, y_true) - L(y_bench, y_true)`` with ``L``
    squared or absolute error, or QLIKE (inputs are variances, see :func:`qlike_losses`).
    The test itself is :func:`dm_test` on ``d``. A random-walk benchmark for returns is
    ``y_bench = 0``. Pairs with a NaN are dropped (which breaks the spacing the lags assume;
    pass complete series when you can).
    """
    if loss not in LOSSES:
        raise ConfigError(f"unknown DM loss {loss!r}; choose one of {list(LOSSES)}")
    t = np.asarray(y_true, dtype=np.float64)
    m = np.broadcast_to(np.asarray(y_model, dtype=np.float64), t.shape)
    b = np.broadcast_to(np.asarray(y_bench, dtype=np.float64), t.shape)
    if t.ndim != 1:
        raise DataError(f"diebold_mariano expects 1-D series, got shape {t.shape}")
    if loss == "qlike":
        d = qlike_losses(t, m) - qlike_losses(t, b)
    else:
        lossf = np.square if loss == "squared" else np.abs
        d = lossf(m - t) - lossf(b - t)
    return dm_test(d, horizon=horizon)


def dm_test(d: np.ndarray, *, horizon: int = 1) -> DMResult:
    """The Diebold-Mariano test on a time-ordered loss differential ``d`` [n] (model minus
    benchmark; NaNs dropped). The long-run variance of ``d`` is Newey-West (Bartlett weights
    ``1 - k/h``, lags ``k = 1 .. h-1``, autocovariances over ``n``); ``DM = mean(d) /
    sqrt(lrv / n)``, then ``DM * sqrt((n + 1 - 2h + h(h-1)/n) / n)`` with a two-sided p-value
    from Student's t with ``n - 1`` degrees of freedom."""
    if horizon < 1:
        raise ConfigError(f"horizon must be >= 1, got {horizon}")
    d = np.asarray(d, dtype=np.float64)
    d = d[np.isfinite(d)]
    n = d.size
    if n < horizon + 2:
        raise DataError(f"diebold_mariano needs more than {horizon + 1} complete pairs, got {n}")
    lrv = newey_west_variance(d, horizon - 1)  # weights 1 - k / horizon, k < horizon
    if lrv <= 0:
        return DMResult(float("nan"), float("nan"), n, float(d.mean()))
    dm = d.mean() / np.sqrt(lrv / n)
    dm *= np.sqrt((n + 1 - 2 * horizon + horizon * (horizon - 1) / n) / n)
    from scipy import stats

    p = 2.0 * stats.t.sf(abs(dm), df=n - 1)
    return DMResult(float(dm), float(p), n, float(d.mean()))


def dm_by_date(frame: pd.DataFrame, model: np.ndarray, bench: np.ndarray, *, target: str,
               horizon: int) -> DMResult | None:
    """DM test of two forecasts of the rows of ``frame`` (columns date, y_true) on the loss
    ``target`` is scored with (:func:`target_losses`), the differential averaged across
    tickers per date; None with fewer than ``horizon + 10`` dates."""
    y = frame["y_true"].to_numpy(np.float64)
    d = pd.Series(target_losses(y, model, target) - target_losses(y, bench, target),
                  index=frame.index)
    per_date = d.groupby(frame["date"].to_numpy()).mean().sort_index().dropna()
    if len(per_date) < horizon + 10:
        return None
    return dm_test(per_date.to_numpy(), horizon=horizon)


def skill_table(forecasts: pd.DataFrame, baseline: np.ndarray, *, target: str = "log_return",
                confidence: float = 0.95) -> pd.DataFrame:
    """Accuracy of a tidy forecast frame next to a naive ``baseline`` forecast of the same rows.

    forecasts: date, ticker, horizon, y_hat, y_true (one fold); baseline: [rows] the naive
    forecast (zero return, or the last volatility). One row per horizon (index as strings) and
    ``all`` (pooled): the :func:`forecast_metrics` columns, ``baseline_mse``, ``baseline_mae``,
    ``mse_ratio`` (model / baseline, < 1 beats it), for volatility targets ``baseline_qlike``
    and ``qlike_ratio``, and the Diebold-Mariano test of the model against the baseline on the
    target's loss (:func:`target_losses`: QLIKE for volatility targets, else squared error),
    per-date losses averaged over tickers (``dm_stat`` < 0: the model is better;
    ``dm_pvalue``). Volatility forecasts <= 0 are scored as 1e-12.
    """
    frame = forecasts.assign(fold=0)
    base = frame.assign(y_hat=np.asarray(baseline, dtype=np.float64))
    if target in VOL_TARGETS:  # QLIKE needs positive forecasts: a non-positive one scores as 1e-12
        frame = frame.assign(y_hat=frame["y_hat"].clip(lower=1e-12))
        base = base.assign(y_hat=base["y_hat"].clip(lower=1e-12))
    model = pd.concat([forecast_metrics(f, target=target, confidence=confidence)
                       for f in (frame, frame.assign(horizon=0))])
    bench = pd.concat([forecast_metrics(f, target=target) for f in (base, base.assign(horizon=0))])
    model.index = [str(h) if h else "all" for h in model.index]
    bench.index = model.index
    out = model.drop(columns=[c for c in model.columns
                              if c.startswith(("ic", "rank_ic", "fold_corr", "fold_rank_corr"))])
    out["baseline_mse"] = bench["mse"]
    out["baseline_mae"] = bench["mae"]
    out["mse_ratio"] = out["mse"] / out["baseline_mse"].where(out["baseline_mse"] > 0)
    if target in VOL_TARGETS:
        out["baseline_qlike"] = bench["qlike"]
        out["qlike_ratio"] = out["qlike"] / out["baseline_qlike"].where(out["baseline_qlike"] > 0)
    stat, pval = [], []
    for label in out.index:
        part = frame if label == "all" else frame[frame["horizon"] == int(label)]
        h = int(frame["horizon"].max()) if label == "all" else int(label)
        res = dm_by_date(part, part["y_hat"].to_numpy(np.float64),
                         base.loc[part.index, "y_hat"].to_numpy(np.float64), target=target,
                         horizon=h)
        stat.append(np.nan if res is None else res.statistic)
        pval.append(np.nan if res is None else res.p_value)
    out["dm_stat"], out["dm_pvalue"] = stat, pval
    out.index.name = "horizon"
    return out


def skill_verdict(table: pd.DataFrame, *, alpha: float = 0.05, baseline: str = "the random walk",
                  loss: str = "squared error") -> str:
    """One sentence saying whether ``table`` shows evidence of skill at level ``alpha``.

    table: one row per horizon (an ``all`` row is ignored) with ``dm_stat`` and ``dm_pvalue``
    (Diebold-Mariano against ``baseline``, stat < 0: the model is better) and, for return
    targets, ``pt_pvalue`` (Pesaran-Timmermann). Each family of p-values is Holm-adjusted across
    horizons (testing several horizons is several tests). Skill means a horizon where the model
    beats the baseline's loss significantly, or whose forecast signs carry information beyond
    the base rates (a hit rate above 50% in a rising market is not enough).
    """
    per_h = table.drop(index="all", errors="ignore")
    p = per_h["dm_pvalue"].astype(float)
    better = per_h["dm_stat"].astype(float) < 0
    tested = p.dropna()
    if tested.empty:
        return "Skill cannot be judged: too few out-of-sample dates for a Diebold-Mariano test."
    holm = _holm(tested)
    def in_order(hs: list) -> list:
        return sorted(hs, key=lambda h: int(h) if str(h).isdigit() else 10**9)

    wins = in_order([h for h in holm.index if holm[h] < alpha and better[h]])
    worse = in_order([h for h in holm.index if holm[h] < alpha and not better[h]])
    direction = []
    if "pt_pvalue" in per_h.columns and per_h["pt_pvalue"].notna().any():
        pt = _holm(per_h["pt_pvalue"].astype(float).dropna())
        direction = in_order([h for h in pt.index if pt[h] < alpha])
    level = f"{alpha:.0%}"
    if wins or direction:
        parts = []
        if wins:
            parts.append("beats " + baseline + f" in {loss} at h=" + ",".join(map(str, wins))
                         + f" (Holm-adjusted DM p {holm[wins].max():.3g})")
        if direction:
            parts.append("calls the direction beyond the base rates at h="
                         + ",".join(map(str, direction)) + " (Holm-adjusted Pesaran-Timmermann)")
        return f"Evidence of skill at {level}: the model " + " and ".join(parts) + "."
    tail = f"; it is significantly worse at h={','.join(map(str, worse))}" if worse else ""
    signs = (" and no horizon's signs carry information beyond the base rates "
             "(Pesaran-Timmermann)" if "pt_pvalue" in per_h.columns else "")
    return (f"No evidence of skill at {level}: no horizon beats {baseline} in {loss} (smallest "
            f"Holm-adjusted DM p {holm.min():.3g}){signs}{tail}.")


def _holm(p: pd.Series) -> pd.Series:
    """Holm-Bonferroni adjusted p-values (same index), monotone and capped at 1."""
    order = np.argsort(p.to_numpy(), kind="stable")
    m = len(p)
    scaled = [(m - rank) * p.to_numpy()[i] for rank, i in enumerate(order)]
    return pd.Series(np.minimum(np.maximum.accumulate(scaled), 1.0), index=p.index[order])
