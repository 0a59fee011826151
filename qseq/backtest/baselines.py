"""Classical baselines, refit per walk-forward fold, forecasting at many anchors at once.

Every baseline has the same call shape::

    f(series, train_end, anchors, horizons, ...) -> np.ndarray [len(anchors), len(horizons)]

``series`` is one ticker's full bar series [bars] indexed by sorted, unique dates (log returns
for return targets and GARCH, the ``realized_vol`` bar series for HAR-RV, the one-bar variance
proxy for the ``variance`` target's baselines, which forecast its mean over the next h bars).
Parameters are fitted on values dated ``<= train_end`` only (the caller applies the purge
gap). Row ``i`` column ``j`` forecasts the value ``horizons[j]`` bars after ``anchors[i]``,
using values up to and including ``anchors[i]`` and nothing later. Anchors must be bars of ``series``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from qseq.data.features import mean_ahead
from qseq.data.windows import Windows
from qseq.errors import ConfigError, DataError
from qseq.metrics import qlike_scale

log = logging.getLogger(__name__)
RW_KINDS = ("return", "level")
HAR_WINDOWS = (1, 5, 22)


def _check(series: pd.Series, train_end: object, anchors: Sequence, horizons: Sequence[int]
           ) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """Return (values [n], position of the last training bar, anchor positions [A], horizons [H])."""
    if not isinstance(series, pd.Series):
        raise DataError(f"baselines take a pandas Series indexed by date, got {type(series).__name__}")
    index = series.index
    if not index.is_monotonic_increasing or not index.is_unique:
        raise DataError("baseline series index must be sorted, unique dates")
    hz = np.asarray(list(horizons), dtype=np.int64)
    if hz.size == 0 or (hz < 1).any():
        raise ConfigError(f"horizons must be positive integers, got {list(horizons)}")
    pos = index.get_indexer(pd.Index(anchors))
    if (pos < 0).any():
        bad = pd.Index(anchors)[pos < 0][0]
        raise DataError(f"anchor {bad} is not a bar of the series; use the series' own dates")
    end = int(index.searchsorted(pd.Timestamp(train_end), side="right")) - 1
    if end < 0:
        raise DataError(f"no data on or before train_end {train_end}; move train_end later")
    return series.to_numpy(np.float64), end, pos, hz


def random_walk_forecast(
    series: pd.Series, train_end: object, anchors: Sequence, horizons: Sequence[int], *,
    kind: str = "return",
) -> np.ndarray:
    """Random walk: ``kind='return'`` forecasts 0 (a random-walk price has zero expected log
    return, so also for cumulative returns); ``kind='level'`` (volatility targets) forecasts the
    last observed (non-NaN) value at or before the anchor. Nothing is fitted; O(n)."""
    if kind not in RW_KINDS:
        raise ConfigError(f"unknown random-walk kind {kind!r}; choose one of {list(RW_KINDS)}")
    values, _, pos, hz = _check(series, train_end, anchors, horizons)
    if kind == "return":
        return np.zeros((pos.size, hz.size))
    last = pd.Series(values).ffill().to_numpy()[pos]  # [A]
    return np.repeat(last[:, None], hz.size, axis=1)


def arima_forecast(
    series: pd.Series, train_end: object, anchors: Sequence, horizons: Sequence[int], *,
    order: tuple[int, int, int] = (1, 0, 0), cumulative: bool = False,
) -> np.ndarray:
    """ARIMA(p, d, q) (statsmodels ``tsa.arima.model.ARIMA``) fitted by maximum likelihood on
    values ``<= train_end``, then run with those parameters fixed through the whole series by
    one Kalman filter pass. The h-step forecast from anchor ``t`` is
    ``c + Z T^(h-1) a_(t+1|t)`` with the filter's predicted state (exactly statsmodels'
    ``forecast`` from that anchor, tested). A constant (the mean) is included when ``d == 0``.
    NaN values are treated as missing by the filter.

    ``cumulative=True`` returns the sum of the step forecasts ``1 .. h`` (the
    ``cum_log_return`` target when ``series`` is one-bar log returns).

    The series is divided by its training standard deviation before fitting (ARIMA forecasts
    scale linearly) so that returns of order 1e-2 do not upset the optimiser. Cost: one MLE fit
    (about 0.2-1 s for a few thousand bars and small orders; an over-parameterised order whose
    AR and MA roots nearly cancel can take several seconds) plus one filter pass (~20 ms).
    """
    from statsmodels.tsa.arima.model import ARIMA

    values, end, pos, hz = _check(series, train_end, anchors, horizons)
    p, d, q = order
    train = values[: end + 1]
    scale = float(np.nanstd(train))
    if not np.isfinite(scale) or scale == 0 or np.isfinite(train).sum() < 2 * (p + q + d) + 10:
        raise DataError(f"too little or constant training data for ARIMA{tuple(order)} up to {train_end}")
    trend = "c" if d == 0 else "n"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # start-value and convergence chatter from statsmodels
        fitted = ARIMA(train / scale, order=order, trend=trend).fit()
        full = ARIMA(values / scale, order=order, trend=trend).filter(fitted.params)
    fr = full.filter_results
    design = fr.design[:, :, 0]  # [1, S]
    transition = fr.transition[:, :, 0]  # [S, S]
    intercept = float(fr.obs_intercept[0, -1])  # constant trend only
    state = fr.predicted_state[:, pos + 1]  # a_(t+1|t), [S, A]
    max_h = int(hz.max())
    steps = np.empty((max_h, pos.size))  # [maxH, A]
    for step in range(max_h):
        steps[step] = intercept + (design @ state)[0]
        state = transition @ state
    if cumulative:
        steps = np.cumsum(steps, axis=0)
    return (steps[hz - 1] * scale).T


def har_features(rv: pd.Series | np.ndarray) -> np.ndarray:
    """HAR-RV regressors [n, 3]: ``RV_t``, ``mean(RV_(t-4..t))``, ``mean(RV_(t-21..t))``
    (trailing; NaN until 22 bars exist)."""
    s = pd.Series(np.asarray(rv, dtype=np.float64))
    return np.column_stack([s.rolling(w, min_periods=w).mean().to_numpy() for w in HAR_WINDOWS])


def har_forecast(
    rv: pd.Series, train_end: object, anchors: Sequence, horizons: Sequence[int],
) -> np.ndarray:
    """HAR-RV (Corsi 2009): for each horizon ``h`` an OLS of ``RV_(t+h)`` on a constant, the
    daily, weekly (5-bar) and monthly (22-bar) trailing means of ``RV`` at ``t``, fitted on the
    anchors ``t`` whose target bar ``t+h`` is ``<= train_end``. ``rv`` is the realized-volatility
    bar series (e.g. one-bar Parkinson vol, the ``realized_vol`` target's units); forecasts are
    in the same units and floored at the smallest positive training value (a linear fit can
    dip below zero, which volatility cannot). NaN where an anchor lacks 22 bars of history.
    Cost: one least-squares solve per horizon, O(n).
    """
    values, end, pos, hz = _check(rv, train_end, anchors, horizons)
    x = np.column_stack([np.ones(values.size), har_features(values)])  # [n, 4]
    floor = np.nanmin(np.where(values[: end + 1] > 0, values[: end + 1], np.nan))
    out = np.empty((pos.size, hz.size))
    for j, h in enumerate(hz):
        rows = np.arange(0, end - h + 1)  # anchors whose target t+h <= train_end
        y = values[rows + h]
        ok = np.isfinite(x[rows]).all(axis=1) & np.isfinite(y)
        if ok.sum() < 2 * x.shape[1]:
            raise DataError(f"HAR-RV horizon {h}: only {int(ok.sum())} complete training rows up to "
                            f"{train_end}; give it more history")
        beta, *_ = np.linalg.lstsq(x[rows][ok], y[ok], rcond=None)
        out[:, j] = np.maximum(x[pos] @ beta, floor)
    return out


def _garch_backcast(resids: np.ndarray) -> float:
    """arch's GARCH backcast: exponentially weighted (0.94) mean of the first 75 squared residuals."""
    tau = min(75, resids.size)
    w = 0.94 ** np.arange(tau)
    return float(np.sum(resids[:tau] ** 2 * w / w.sum()))


def garch_forecast(
    log_returns: pd.Series, train_end: object, anchors: Sequence, horizons: Sequence[int], *,
    vol: str = "GARCH", dist: str = "normal",
) -> np.ndarray:
    """GARCH(1,1) (or GJR-GARCH(1,1,1) with ``vol="GJR"``) with a constant mean and ``dist``
    errors (``arch.arch_model``) fitted on 100 x the one-bar log returns dated
    ``<= train_end``; forecasts the conditional volatility of bar ``t+h`` given returns up to
    anchor ``t``, as a daily log-return volatility (the ``realized_vol`` target's units, not
    percent). Leading NaN returns are dropped; a NaN after that raises.

    With the fitted parameters fixed, the variance recursion
    ``s2_t = omega + (alpha + gamma 1[e_(t-1) < 0]) e_(t-1)^2 + beta s2_(t-1)`` runs over the
    whole series (one ``scipy.signal.lfilter`` pass, started from the backcast arch's
    ``forecast`` uses: the 0.94-EWMA of the first 75 squared training residuals, half of it
    for the asymmetric term) and the analytic forecast
    ``s2_(t+h|t) = omega + (alpha + gamma/2 + beta) s2_(t+h-1|t)`` is iterated over horizons
    (``gamma / 2``: symmetric errors are negative half the time); this reproduces arch's
    ``forecast`` from the training fit (tested). arch's ``model.fix(params)`` on the full
    sample is not used because it recomputes the backcast from the full-sample mean and
    variance bounds from the whole series, so a change after an anchor would move that
    anchor's forecast. Cost: one arch fit (~50-300 ms for a few thousand bars) plus O(n)
    filtering.
    """
    path = _garch_paths(log_returns, train_end, anchors, int(max(horizons)), vol=vol, dist=dist)
    return np.sqrt(path[np.asarray(list(horizons)) - 1]).T


def _garch_paths(log_returns: pd.Series, train_end: object, anchors: Sequence, max_h: int, *,
                 vol: str, dist: str) -> np.ndarray:
    """Variance forecasts [max_h, A] of bars ``t+1 .. t+max_h`` from each anchor ``t`` (daily
    log-return units) by the model :func:`garch_forecast` describes."""
    from arch import arch_model

    values, end, pos, _ = _check(log_returns, train_end, anchors, [max_h])
    finite = np.isfinite(values)
    first = int(np.argmax(finite)) if finite.any() else values.size
    if not finite[first:].all():
        bad = log_returns.index[first:][~finite[first:]][0]
        raise DataError(f"GARCH needs gap-free returns; NaN at {bad} (fill or drop the bar first)")
    if (pos < first).any():
        raise DataError(f"anchor {log_returns.index[pos[pos < first][0]]} precedes the first return")
    y = 100.0 * values[first:]
    n_train = end + 1 - first
    if n_train < 100:
        raise DataError(f"GARCH needs at least 100 training returns up to {train_end}, got {max(n_train, 0)}")
    train = y[:n_train]
    res = arch_model(train, mean="Constant", vol="GARCH", p=1, o=1 if vol == "GJR" else 0, q=1,
                     dist=dist).fit(disp="off")
    if res.convergence_flag != 0:
        log.warning("%s fit up to %s did not converge (flag %s)", vol, train_end, res.convergence_flag)
    params = res.params
    mu, omega, alpha, beta = (float(params[k]) for k in ("mu", "omega", "alpha[1]", "beta[1]"))
    gamma = float(params["gamma[1]"]) if vol == "GJR" else 0.0
    backcast = _garch_backcast(train - mu)  # as arch's forecast(): fitted-mean training residuals
    e = y - mu
    shock = (alpha + gamma * (e < 0)) * e**2  # [n]
    # s2_t for t = 0..n (s2_n is the one-step forecast from the last bar).
    drive = omega + np.concatenate([[(alpha + 0.5 * gamma) * backcast], shock])  # [n + 1]
    s2 = lfilter([1.0], [1.0, -beta], drive, zi=[beta * backcast])[0]
    var = np.empty((max_h, pos.size))
    var[0] = s2[pos - first + 1]  # s2_(t+1|t), [A]
    persistence = alpha + 0.5 * gamma + beta
    for step in range(1, max_h):
        var[step] = omega + persistence * var[step - 1]
    return var / 1e4


# -- the variance target: the mean daily variance of the next h bars --------------------------
def har_variance_forecast(
    var: pd.Series, train_end: object, anchors: Sequence, horizons: Sequence[int], *,
    log_space: bool = False, returns: pd.Series | None = None, calibrate: bool = True,
) -> np.ndarray:
    """HAR on the ``variance`` target: for each horizon ``h`` an OLS of the mean variance of
    bars ``t+1 .. t+h`` on a constant and the daily, weekly (5) and monthly (22) trailing means
    of the bar variance ``var`` at ``t`` (Corsi 2009), fitted on anchors whose last target bar
    is ``<= train_end``.

    - ``log_space``: regress logs on logs (HAR-log) and forecast ``exp`` of the fit.
    - ``returns`` (one-bar log returns, same index): add the leverage terms of Corsi and Renò
      (2012), ``min(r_t, 0)``, ``min(mean_5 r, 0)``, ``min(mean_22 r, 0)`` (LHAR-log with
      ``log_space``).
    - ``calibrate``: scale each horizon by :func:`qseq.metrics.qlike_scale` on the training
      rows (for the log models, the smearing that turns a forecast of ``E[ln v]`` into one of ``E[v]``).

    Level forecasts are floored at the smallest positive training value. NaN where an anchor
    lacks 22 bars of history. Cost: one least-squares solve per horizon, O(n).
    """
    values, end, pos, hz = _check(var, train_end, anchors, horizons)
    regs = har_features(values)  # [n, 3] trailing means
    if log_space:
        with np.errstate(divide="ignore", invalid="ignore"):
            regs = np.log(regs)
    cols = [np.ones(values.size), *regs.T]
    if returns is not None:
        r = returns.reindex(var.index).to_numpy(np.float64)
        cols += [np.minimum(m, 0.0) for m in har_features(r).T]
    x = np.column_stack(cols)  # [n, k]
    target = mean_ahead(values, hz)  # [n, H]
    train_vals = values[: end + 1]
    floor = np.nanmin(np.where(train_vals > 0, train_vals, np.nan))
    out = np.empty((pos.size, hz.size))
    fitted = np.full((end + 1, hz.size), np.nan)
    for j, h in enumerate(hz):
        rows = np.arange(0, end - h + 1)  # anchors whose last target bar t+h <= train_end
        y = target[rows, j]
        if log_space:
            with np.errstate(divide="ignore", invalid="ignore"):
                y = np.log(y)
        ok = np.isfinite(x[rows]).all(axis=1) & np.isfinite(y)
        if ok.sum() < 2 * x.shape[1]:
            raise DataError(f"HAR horizon {h}: only {int(ok.sum())} complete training rows up to "
                            f"{train_end}; give it more history")
        beta, *_ = np.linalg.lstsq(x[rows][ok], y[ok], rcond=None)
        link = (lambda z: np.exp(np.minimum(z, 700.0))) if log_space else (lambda z: np.maximum(z, floor))
        out[:, j] = link(x[pos] @ beta)
        fitted[rows, j] = link(x[rows] @ beta)
    if calibrate:
        out *= qlike_scale(target[: end + 1], fitted)
    return out


def garch_variance_forecast(
    var: pd.Series, train_end: object, anchors: Sequence, horizons: Sequence[int], *,
    returns: pd.Series, vol: str = "GARCH", dist: str = "t",
) -> np.ndarray:
    """GARCH(1,1) / GJR-GARCH(1,1,1) with Student-t errors on the ``variance`` target: the mean
    of the model's variance forecasts for bars ``t+1 .. t+h``, calibrated to the range proxy
    ``var`` like the other variance baselines (:func:`qseq.metrics.qlike_scale` over training
    anchors: close-to-close variance and a range proxy differ in level, overnight gaps among other
    things). ``returns``: one-bar log returns (same index). Model and filtering as in
    :func:`garch_forecast`."""
    hz = np.asarray(list(horizons), dtype=np.int64)
    values, end, pos, _ = _check(var, train_end, anchors, horizons)
    max_h = int(hz.max())
    returns = returns.reindex(var.index)
    first = int(np.argmax(np.isfinite(returns.to_numpy())))
    train_pos = np.arange(max(first, 0), end - int(hz.min()) + 1)
    both = np.concatenate([pos, train_pos])
    paths = _garch_paths(returns, train_end, var.index[both], max_h, vol=vol, dist=dist)
    means = np.cumsum(paths, axis=0)[hz - 1].T / hz  # [A + T, H]
    forecast, fitted = means[: pos.size], means[pos.size:]
    target = mean_ahead(values, hz)[train_pos]
    for j, h in enumerate(hz):  # a training row counts only if its target ends by train_end
        target[train_pos + h > end, j] = np.nan
    return forecast * qlike_scale(target, fitted)


SIGNALS = {"reversal_1": (1, -1.0), "reversal_5": (5, -1.0), "momentum_20": (20, 1.0)}


def signal_forecast(
    log_returns: pd.Series, train_end: object, anchors: Sequence, horizons: Sequence[int], *,
    window: int, sign: float,
) -> np.ndarray:
    """A cross-sectional ranking signal, ``sign * sum(r_(t-window+1) .. r_t)`` at each anchor,
    repeated over horizons: ``window=1, sign=-1`` is 1-day reversal, ``5, -1`` 5-day reversal,
    ``20, +1`` 20-day momentum. Nothing is fitted (``train_end`` only checks the data). These
    rank tickers; their scale is not a return forecast, so judge them on IC, rank IC and the
    cross-sectional strategy, not on MSE. NaN until ``window`` returns exist."""
    values, _, pos, hz = _check(log_returns, train_end, anchors, horizons)
    summed = pd.Series(values).rolling(window, min_periods=window).sum().to_numpy()
    return np.repeat(sign * summed[pos][:, None], hz.size, axis=1)


BASELINES = {
    "random_walk": random_walk_forecast,
    "arima": arima_forecast,
    "har": har_forecast,
    "garch": garch_forecast,
    "har_variance": har_variance_forecast,
    "garch_variance": garch_variance_forecast,
    "signal": signal_forecast,
}
"""Registry of baselines by name; all share the call shape in the module docstring."""


def ridge_forecast(windows: Windows, train: np.ndarray, val: np.ndarray, test: np.ndarray,
                   alphas: Sequence[float] = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)) -> np.ndarray:
    """Ridge regression on the model's own inputs, pooled over tickers: each window's
    ``lookback x F`` feature values flattened, standardised with training statistics; one
    output per horizon. The penalty is chosen by MSE on the ``val`` windows (the split the
    learned model early-stops on), then the fit on ``train`` forecasts ``test``. Positions are
    into ``windows`` (unscaled); returns [len(test), H] in target units."""
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler as SkScaler

    offsets = np.arange(-windows.lookback + 1, 1)

    def design(pos: np.ndarray) -> np.ndarray:
        rows = windows.anchors[pos][:, None] + offsets  # [N, L]
        return windows.values[rows].reshape(len(pos), -1).astype(np.float64)

    if len(train) < 10:
        raise DataError(f"ridge needs at least 10 training windows, got {len(train)}")
    scaler = SkScaler().fit(design(train))
    x_train, y_train = scaler.transform(design(train)), windows.targets[windows.anchors[train]]
    best = alphas[0]
    if len(val):
        x_val, y_val = scaler.transform(design(val)), windows.targets[windows.anchors[val]]
        errors = [np.mean((Ridge(alpha=a).fit(x_train, y_train).predict(x_val) - y_val) ** 2)
                  for a in alphas]
        best = alphas[int(np.argmin(errors))]
    model = Ridge(alpha=best).fit(x_train, y_train)
    return model.predict(scaler.transform(design(test))).reshape(len(test), -1)


def baseline_forecast(name: str, bars: pd.DataFrame, target: str, fit_end: pd.Timestamp,
                      anchors: pd.DatetimeIndex, horizons: Sequence[int], *, ar_order: int = 1,
                      proxy: str = "parkinson") -> np.ndarray:
    """[len(anchors), H] forecasts of one ticker's target by a baseline fitted on bars up to
    ``fit_end`` and conditioned on bars up to each anchor. bars: one ticker, indexed by date.

    For the ``variance`` target (the mean ``proxy`` variance of the next h bars):
    ``random_walk`` (the last bar's variance), ``har`` (HAR-RV in levels), ``har_log``,
    ``lhar_log`` (with leverage terms), ``garch`` and ``gjr_garch`` (Student-t errors), all but
    the random walk calibrated to the proxy's level on the training rows."""
    from qseq.data.features import bar_variance, parkinson_bar_vol

    returns = np.log(bars["close"].astype("float64")).diff()
    if target == "variance":
        var = bar_variance(bars, proxy)
        if name == "random_walk":
            return random_walk_forecast(var, fit_end, anchors, horizons, kind="level")
        if name in ("har", "har_log", "lhar_log"):
            return har_variance_forecast(var, fit_end, anchors, horizons,
                                         log_space=name != "har",
                                         returns=returns if name == "lhar_log" else None)
        if name in ("garch", "gjr_garch"):
            return garch_variance_forecast(var, fit_end, anchors, horizons, returns=returns,
                                           vol="GJR" if name == "gjr_garch" else "GARCH")
    elif target == "realized_vol":
        rv = parkinson_bar_vol(bars)  # the realized_vol target's bar series
        if name == "random_walk":
            return random_walk_forecast(rv, fit_end, anchors, horizons, kind="level")
        if name == "har":
            return har_forecast(rv, fit_end, anchors, horizons)
        if name == "garch":
            return garch_forecast(returns, fit_end, anchors, horizons)
    elif name == "random_walk":
        return random_walk_forecast(returns, fit_end, anchors, horizons, kind="return")
    elif name in SIGNALS:
        window, sign = SIGNALS[name]
        return signal_forecast(returns, fit_end, anchors, horizons, window=window, sign=sign)
    elif name == "ar":
        return arima_forecast(returns, fit_end, anchors, horizons, order=(ar_order, 0, 0),
                                 cumulative=target == "cum_log_return")
    raise ConfigError(f"baseline {name!r} does not apply to target {target!r}")


def naive_forecast(panel: pd.DataFrame, target: str, windows: Windows,
                   proxy: str = "parkinson") -> np.ndarray:
    """[N, H] the random walk of ``target`` at each window's anchor (the baseline a learned
    model must beat): zero for return targets, the last bar's volatility for ``realized_vol``.
    ``windows`` must come from ``panel`` (its horizons give H)."""
    out = np.full(np.shape(windows.y), np.nan)
    horizons = range(1, out.shape[1] + 1)  # the random walk is flat across horizons
    for tid, ticker in enumerate(windows.tickers):
        mine = windows.ticker == tid
        if mine.any():
            bars = panel.xs(ticker, level="ticker")
            anchors = pd.DatetimeIndex(windows.anchor_date[mine])
            out[mine] = baseline_forecast("random_walk", bars, target, anchors.max(), anchors,
                                          horizons, proxy=proxy)
    return out
