"""From stitched out-of-sample forecasts to results: forecast accuracy per model and horizon,
strategy P&L after costs (model and baselines through the same rules and costs), and
Diebold-Mariano tests of the model against every forecasting baseline."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from qseq.backtest.strategy import (
    backtest,
    buy_and_hold,
    cross_sectional_positions,
    signal_positions,
    trailing_vol,
)
from qseq.backtest.walk_forward import WalkForwardResult
from qseq.config import CostsConfig, StrategyConfig
from qseq.errors import ConfigError, DataError
from qseq.metrics import (
    PERIODS_PER_YEAR,
    VOL_TARGETS,
    dm_by_date,
    forecast_metrics,
    loss_name,
    skill_verdict,
    strategy_metrics,
    target_losses,
)


@dataclass
class Evaluation:
    metrics: pd.DataFrame  # model, kind, horizon, metric, value, benchmark
    equity: pd.DataFrame  # date, model, net_return, equity, drawdown, rolling_sharpe, turnover
    model: str = ""  # the model under test
    target: str = "log_return"

    def verdict(self, baseline: str = "random_walk", alpha: float = 0.05) -> str:
        """One sentence: is there evidence at level ``alpha`` that the model beats ``baseline``
        out of sample? (:func:`qseq.metrics.skill_verdict` on this evaluation's DM tests and
        directional-accuracy intervals.)"""
        m = self.metrics
        dm = m[(m["kind"] == "dm") & (m["model"] == self.model) & (m["benchmark"] == baseline)]
        if dm.empty:
            return (f"Skill cannot be judged against {baseline}: it is not among the compared "
                    "forecasts (add it to the baselines).")
        table = dm.pivot_table(index="horizon", columns="metric", values="value")
        fc = m[(m["kind"] == "forecast") & (m["model"] == self.model)]
        wide = fc.pivot_table(index="horizon", columns="metric", values="value")
        if "pt_pvalue" in wide.columns:
            table = table.join(wide[["pt_pvalue"]])
        return skill_verdict(table, alpha=alpha, baseline=baseline.replace("_", " "),
                             loss=loss_name(self.target))


    def strongest_baseline(self, horizon: int | str = 1) -> str | None:
        """The compared forecast (not the model under test) with the lowest loss at
        ``horizon`` (QLIKE for volatility targets, else MSE), or None."""
        m = self.metrics
        metric = "qlike" if self.target in VOL_TARGETS else "mse"
        rows = m[(m["kind"] == "forecast") & (m["horizon"] == str(horizon))
                 & (m["metric"] == metric) & (m["model"] != self.model)].dropna(subset=["value"])
        return None if rows.empty else str(rows.loc[rows["value"].idxmin(), "model"])

    def verdicts(self) -> str:
        """:meth:`verdict` against the random walk (when it is compared) and, when another
        baseline is stronger at the first horizon, against that one too."""
        m = self.metrics
        compared = set(m.loc[m["kind"] == "dm", "benchmark"])
        parts = [self.verdict()] if "random_walk" in compared else []
        first = m.loc[m["kind"] == "forecast", "horizon"]
        first = min(first, key=lambda h: int(h) if str(h).isdigit() else 10**9) if len(first) else 1
        best = self.strongest_baseline(first)
        if best and best != "random_walk":
            parts.append(f"Against the strongest baseline at h={first}, {best}: {self.verdict(best)}")
        return " ".join(parts) or self.verdict()


def bar_log_returns(panel: pd.DataFrame) -> pd.DataFrame:
    """[dates x tickers] one-bar log returns of the close."""
    close = panel["close"].astype("float64").unstack("ticker").sort_index()
    return np.log(close).diff()


def model_positions(forecasts: pd.DataFrame, returns: pd.DataFrame,
                    strategy: StrategyConfig) -> pd.DataFrame:
    """Positions [decision dates x tickers] of one model's forecasts under ``strategy``."""
    if strategy.signal_horizon == "sum":
        signal = forecasts.groupby(["date", "ticker"])["y_hat"].sum().unstack("ticker")
    else:
        rows = forecasts[forecasts["horizon"] == strategy.signal_horizon]
        signal = rows.pivot_table(index="date", columns="ticker", values="y_hat", aggfunc="first")
    signal = signal.sort_index()
    if strategy.kind == "cross_sectional":
        return cross_sectional_positions(signal, strategy.k, long_only=strategy.long_only)
    vol = None
    if strategy.rule == "vol_scaled":
        vol = trailing_vol(returns, strategy.vol_window).reindex(signal.index)
    cols = {t: signal_positions(signal[t], strategy.rule, threshold=strategy.threshold,
                                vol=None if vol is None else vol[t], scale=strategy.scale,
                                cap=strategy.cap, long_only=strategy.long_only)
            for t in signal.columns}
    # one ticker: the position itself; a panel: an equal share of the book per ticker
    return pd.DataFrame(cols) / len(cols)


def run_strategies(forecasts: pd.DataFrame, panel: pd.DataFrame, strategy: StrategyConfig,
                   costs: CostsConfig, with_buy_and_hold: bool) -> dict[str, pd.DataFrame]:
    """Per-bar backtest results per model (and buy-and-hold) over the out-of-sample dates."""
    returns = bar_log_returns(panel)
    out = {}
    for model, part in forecasts.groupby("model", sort=False):
        pos = model_positions(part, returns, strategy)
        out[str(model)] = backtest(pos, returns, cost_bps=costs.bps, slippage_bps=costs.slippage_bps)
    if with_buy_and_hold and out:
        dates = pd.DatetimeIndex(np.unique(forecasts["date"]))
        tickers = sorted(pd.unique(forecasts["ticker"]))
        out["buy_and_hold"] = backtest(buy_and_hold(dates, tickers), returns, cost_bps=costs.bps,
                                       slippage_bps=costs.slippage_bps)
    return out


def dm_tests(forecasts: pd.DataFrame, model: str, benchmarks: list[str],
             target: str = "log_return") -> list[dict]:
    """DM test of ``model`` vs each benchmark, per horizon, on the loss ``target`` is scored
    with (QLIKE for volatility and variance targets, else squared error). For a panel the loss
    differential is averaged across tickers per date first."""
    rows = []
    wide = forecasts.pivot_table(index=["date", "ticker", "horizon"], columns="model", values="y_hat")
    truth = forecasts.groupby(["date", "ticker", "horizon"])["y_true"].first()
    for bench in benchmarks:
        if bench not in wide.columns:
            continue
        pair = pd.DataFrame({"m": wide[model], "b": wide[bench], "y_true": truth}).dropna()
        pair = pair.reset_index()
        for horizon, part in pair.groupby("horizon"):
            res = dm_by_date(part, part["m"].to_numpy(), part["b"].to_numpy(), target=target,
                             horizon=int(horizon))
            if res is None:
                continue
            rows += [{"model": model, "kind": "dm", "horizon": str(horizon), "metric": name,
                      "value": float(value), "benchmark": bench}
                     for name, value in (("dm_stat", res.statistic), ("dm_pvalue", res.p_value),
                                         ("dm_n", res.n), ("mean_loss_diff", res.mean_loss_diff))]
    return rows


def yearly_ratios(forecasts: pd.DataFrame, model: str, benchmarks: list[str],
                  target: str = "log_return") -> list[dict]:
    """Per calendar year (of the anchor date) and horizon: the model's mean loss over each
    benchmark's on the same rows (< 1: the model wins that year). Rows of kind ``yearly`` with
    metric = the year."""
    wide = forecasts.pivot_table(index=["date", "ticker", "horizon"], columns="model", values="y_hat")
    truth = forecasts.groupby(["date", "ticker", "horizon"])["y_true"].first()
    rows = []
    for bench in benchmarks:
        if bench not in wide.columns:
            continue
        pair = pd.DataFrame({"m": wide[model], "b": wide[bench], "y": truth}).dropna().reset_index()
        pair["lm"] = target_losses(pair["y"].to_numpy(), pair["m"].to_numpy(), target)
        pair["lb"] = target_losses(pair["y"].to_numpy(), pair["b"].to_numpy(), target)
        pair["year"] = pd.DatetimeIndex(pair["date"]).year
        means = pair.groupby(["horizon", "year"])[["lm", "lb"]].mean()
        ratio = (means["lm"] / means["lb"].where(means["lb"] > 0)).reset_index(name="value")
        rows += [{"model": model, "kind": "yearly", "horizon": str(h), "metric": str(year),
                  "value": float(value), "benchmark": bench}
                 for h, year, value in ratio.itertuples(index=False)]
    return rows


def evaluate(
    forecasts: WalkForwardResult | pd.DataFrame,
    panel: pd.DataFrame,
    *,
    model: str | None = None,
    target: str | None = None,
    strategy: StrategyConfig | None = None,
    costs: CostsConfig | None = None,
    buy_and_hold: bool = True,
    rolling_sharpe_bars: int = 126,
) -> Evaluation:
    """Score stitched out-of-sample forecasts: accuracy per model and horizon, Diebold-Mariano
    of ``model`` against every other model in the frame, and (return targets) the P&L of each
    model's positions under ``strategy`` after ``costs``, with buy-and-hold beside them.

    forecasts: a :class:`WalkForwardResult` or its tidy frame (date, ticker, horizon, y_hat,
    y_true, fold, model). model: the model under test (default: the result's model, or the
    only non-baseline name); target: default the result's target, else ``log_return``.
    """
    from qseq.backtest.walk_forward import BASELINES

    if isinstance(forecasts, WalkForwardResult):
        model = model or forecasts.spec.forecast.model
        target = target or forecasts.spec.forecast.target
        forecasts = forecasts.forecasts
    target = target or "log_return"
    strategy = strategy or StrategyConfig()
    costs = costs or CostsConfig()
    names = list(pd.unique(forecasts["model"]))
    if model is None:
        learned = [n for n in names if n not in BASELINES]
        if len(learned) != 1:
            raise ConfigError(f"name the model under test (model=...); the frame holds {names}")
        model = learned[0]
    if model not in names:
        raise ConfigError(f"model {model!r} is not in the forecasts (they hold {names})")
    scored = forecasts[np.isfinite(forecasts["y_true"])]
    if scored.empty:
        raise DataError("no out-of-sample forecast has a known outcome yet; use an earlier "
                        "--as-of or fewer walk_forward.train_bars")
    rows: list[dict] = []
    for name, part in scored.groupby("model", sort=False):
        table = forecast_metrics(part, target=target)
        for horizon, values in table.to_dict(orient="index").items():
            rows += [{"model": name, "kind": "forecast", "horizon": str(horizon), "metric": metric,
                      "value": float(value), "benchmark": ""} for metric, value in values.items()]
    benchmarks = [b for b in pd.unique(scored["model"]) if b != model]
    rows += dm_tests(scored, model, benchmarks, target)
    rows += yearly_ratios(scored, model, benchmarks, target)

    equity_frames = []
    if target not in VOL_TARGETS:
        results = run_strategies(forecasts, panel, strategy, costs, buy_and_hold)
        window = rolling_sharpe_bars
        for name, res in results.items():
            summary = strategy_metrics(res)
            rows += [{"model": name, "kind": "strategy", "horizon": "", "metric": metric,
                      "value": float(value), "benchmark": ""} for metric, value in summary.items()]
            r = res["net_return"]
            rolling = r.rolling(window, min_periods=window // 2)
            equity_frames.append(pd.DataFrame({
                "date": res.index, "model": name, "net_return": r.to_numpy(),
                "equity": res["equity"].to_numpy(),
                "drawdown": (res["equity"] / res["equity"].cummax().clip(lower=1.0) - 1).to_numpy(),
                "rolling_sharpe": (rolling.mean() / rolling.std() * np.sqrt(PERIODS_PER_YEAR)).to_numpy(),
                "turnover": res["turnover"].to_numpy(),
            }))
    metrics = pd.DataFrame(rows, columns=["model", "kind", "horizon", "metric", "value", "benchmark"])
    equity = (pd.concat(equity_frames, ignore_index=True) if equity_frames else
              pd.DataFrame(columns=["date", "model", "net_return", "equity", "drawdown",
                                    "rolling_sharpe", "turnover"]))
    return Evaluation(metrics, equity, model, target)
