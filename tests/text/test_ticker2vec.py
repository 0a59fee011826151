"""ticker2vec: market sentences (known orderings, no leakage past the training range), the
sector evaluation (purity, chance, silhouette known answers) and recovery of planted groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qseq.errors import ConfigError, DataError
from qseq.text.sectors import (
    chance_purity,
    correlation_neighbours,
    nearest_neighbours,
    sector_map,
    sector_purity,
    silhouette,
)
from qseq.text.ticker2vec import (
    SentenceConfig,
    market_residuals,
    market_sentences,
    ticker2vec,
    training_returns,
)
from qseq.text.vectors import Vectors

ALL = ("close", "intraday", "overnight")
# one close-to-close sentence per day, sorted by the raw return: orderings readable by hand
PLAIN = {"first_frac": 1.0, "order": "return", "scale": False, "returns": ("close",),
         "horizons": (1,)}


def panel_from(log_close: pd.DataFrame, log_open: pd.DataFrame | None = None) -> pd.DataFrame:
    """A (date, ticker) panel from wide [dates, tickers] log closes (and log opens)."""
    close = np.exp(log_close)
    open_ = close.shift().fillna(close) if log_open is None else np.exp(log_open)
    frame = pd.DataFrame({"open": open_.stack(), "close": close.stack()})
    frame["high"] = frame[["open", "close"]].max(axis=1)
    frame["low"] = frame[["open", "close"]].min(axis=1)
    frame["volume"] = 1000.0
    frame.index.names = ["date", "ticker"]
    return frame[["open", "high", "low", "close", "volume"]].sort_index()


def planted_panel(n_days: int = 120, per_group: int = 8, seed: int = 0
                  ) -> tuple[pd.DataFrame, pd.Series]:
    """Two groups of tickers, each driven by its own factor (plus a market and noise), with the
    overnight and intraday parts of each day drawn separately. Returns (panel, group labels)."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=n_days)
    names = [f"G{g}T{i}" for g in range(2) for i in range(per_group)]
    groups = pd.Series([n[:2] for n in names], index=names)

    def part(scale: float) -> np.ndarray:  # [days, tickers] one half-day of returns
        market = rng.normal(size=(n_days, 1))
        factors = rng.normal(size=(n_days, 2))
        own = factors[:, [int(n[1]) for n in names]]
        return scale * (0.5 * market + own + 0.6 * rng.normal(size=(n_days, len(names))))

    overnight, intraday = part(0.004), part(0.008)
    log_open = np.log(50.0) + np.cumsum(overnight + np.vstack([np.zeros(len(names)), intraday[:-1]]), axis=0)
    log_close = log_open + intraday
    wide = lambda a: pd.DataFrame(a, index=dates, columns=names)  # noqa: E731
    return panel_from(wide(log_close), wide(log_open)), groups


# ---- sentences ------------------------------------------------------------------------------

def test_sentences_sort_each_day_by_return_known_answer():
    dates = pd.bdate_range("2021-01-04", periods=4)
    log_close = pd.DataFrame({"A": [0.0, 0.03, 0.01, 0.02], "B": [0.0, -0.01, 0.02, 0.00],
                              "C": [0.0, 0.01, -0.05, 0.04]}, index=dates)
    panel = panel_from(log_close)
    config = SentenceConfig(**PLAIN)
    # day-2 returns A .03 B -.01 C .01; day 3: A -.02 B .03 C -.06; day 4: A .01 B -.02 C .09
    assert market_sentences(panel, config) == [["B", "C", "A"], ["C", "A", "B"], ["B", "A", "C"]]
    # an equal-weight market shifts a whole day: the same orderings
    residual = SentenceConfig(**{**PLAIN, "order": "residual"})
    assert market_sentences(panel, residual) == market_sentences(panel, config)
    # two-day horizon: sums of consecutive returns (A .01 B .02 C -.05; A -.01 B .01 C .03)
    two = SentenceConfig(**{**PLAIN, "horizons": (2,)})
    assert market_sentences(panel, two) == [["C", "A", "B"], ["A", "B", "C"]]
    # chunks of two; a lone last ticker has no context and is dropped
    chunked = SentenceConfig(**PLAIN, chunk=2)
    assert market_sentences(panel, chunked) == [["B", "C"], ["C", "A"], ["B", "A"]]


def test_sentences_of_each_return_kind_and_missing_bars():
    dates = pd.bdate_range("2021-01-04", periods=3)
    log_close = pd.DataFrame({"A": [0.0, 0.02, 0.02], "B": [0.0, 0.01, 0.04], "C": [0.0, 0.0, 0.0]},
                             index=dates)
    log_open = pd.DataFrame({"A": [0.0, -0.01, 0.02], "B": [0.0, 0.03, 0.01], "C": [0.0, 0.01, 0.0]},
                            index=dates)
    panel = panel_from(log_close, log_open)
    config = SentenceConfig(**{**PLAIN, "returns": ALL})
    # close: (.02, .01, 0), (0, .03, 0); intraday (close - open): (.03, -.02, -.01), (0, .03, 0);
    # overnight (open - previous close): (-.01, .03, .01), (0, 0, 0) -> ties keep ticker order
    assert market_sentences(panel, config) == [
        ["C", "B", "A"], ["A", "C", "B"], ["B", "C", "A"], ["A", "C", "B"],
        ["A", "C", "B"], ["A", "B", "C"]]
    gappy = panel.drop((dates[2], "B"))
    loose = SentenceConfig(**PLAIN, min_coverage=0.5)
    assert market_sentences(gappy, loose) == [["C", "B", "A"], ["A", "C"]]  # B has no bar on day 3
    strict = SentenceConfig(**PLAIN, min_coverage=1.0)
    assert market_sentences(gappy, strict) == [["C", "A"], ["A", "C"]]  # B covers half the days


@pytest.mark.parametrize("config", [SentenceConfig(returns=ALL, horizons=(1, 3)),
                                    SentenceConfig(order="residual", market="beta", chunk=5),
                                    SentenceConfig(train_end="2020-04-15", returns=ALL)])
def test_sentences_ignore_everything_after_the_training_range(config):
    panel, _ = planted_panel()
    dates = panel.index.get_level_values("date")
    last = (pd.Timestamp(config.train_end) if config.train_end else
            dates.unique().sort_values()[int(dates.nunique() * config.first_frac) - 1])
    later = dates > last
    rng = np.random.default_rng(1)
    perturbed = panel.copy()
    perturbed.loc[later, ["open", "close"]] *= np.exp(rng.normal(0, 0.2, size=(later.sum(), 2)))
    dropped = perturbed.drop(perturbed.index[later][::3])  # later bars missing: no change either
    assert market_sentences(perturbed, config) == market_sentences(panel, config)
    assert market_sentences(dropped, config) == market_sentences(panel, config)
    changed = panel.copy()
    changed.loc[dates <= last, "close"] *= np.exp(rng.normal(0, 0.05, size=(dates <= last).sum()))
    assert market_sentences(changed, config) != market_sentences(panel, config)


def test_market_residuals_remove_the_market():
    rng = np.random.default_rng(0)
    factor = rng.normal(size=(50, 1))
    returns = pd.DataFrame(factor * np.array([[0.5, 1.0, 2.0]]), columns=["A", "B", "C"])
    beta = market_residuals(returns, "beta")
    np.testing.assert_allclose(beta.to_numpy(), 0.0, atol=1e-12)  # pure one-factor: nothing left
    equal = market_residuals(returns, "equal")
    np.testing.assert_allclose(equal.sum(axis=1), 0.0, atol=1e-12)


def test_config_and_data_errors_name_the_problem():
    with pytest.raises(ConfigError, match="unknown order 'momentum'"):
        SentenceConfig(order="momentum")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown return kind 'vwap'"):
        SentenceConfig(returns=("vwap",))
    with pytest.raises(ConfigError, match="horizons"):
        SentenceConfig(horizons=(0,))
    panel, _ = planted_panel(n_days=10)
    with pytest.raises(DataError, match="training range holds"):
        training_returns(panel, SentenceConfig(first_frac=0.2))
    with pytest.raises(DataError, match="'open'"):
        training_returns(panel[["close"]], SentenceConfig(), kind="intraday")
    with pytest.raises(ConfigError, match="method must be one of"):
        ticker2vec(panel, method="fasttext")  # type: ignore[arg-type]


# ---- evaluation -----------------------------------------------------------------------------

def test_purity_and_chance_known_answers():
    vec = Vectors(("a1", "a2", "a3", "b1", "b2", "b3", "x"),
                  np.array([[1, 0.1], [1, 0], [1, -0.1], [0, 1], [0.1, 1], [-0.1, 1], [1, 0.05]]))
    sectors = pd.Series({"a1": "A", "a2": "A", "a3": "A", "b1": "B", "b2": "B", "b3": "B"})
    assert sector_purity(vec, sectors, k=2) == 1.0  # x has no sector: neither query nor neighbour
    # k = 3 must reach across: every ticker gets 2 of 3 from its sector
    assert sector_purity(vec, sectors, k=3) == pytest.approx(2 / 3)
    assert chance_purity(sectors) == pytest.approx(2 / 5)
    assert chance_purity(pd.Series({"a": "A", "b": "A", "c": "B", "d": "C"})) == \
        pytest.approx((1 / 3 + 1 / 3 + 0 + 0) / 4)
    assert nearest_neighbours(vec, sectors, k=1)["a1"] == ["a2"]
    lists = {"a1": ["x", "b1", "a2"], "a2": ["a1", "a3"], "b1": ["b2", "a1"], "x": ["a1", "a2"]}
    assert sector_purity(lists, sectors, k=2) == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    with pytest.raises(DataError, match="need k=3"):
        sector_purity(lists, sectors, k=3)


def test_silhouette_range():
    rng = np.random.default_rng(0)
    centres = np.repeat(np.eye(3) * 5, 10, axis=0)  # [30, 3]
    tokens = tuple(f"t{i}" for i in range(30))
    sectors = pd.Series([f"s{i // 10}" for i in range(30)], index=tokens)
    tight = silhouette(Vectors(tokens, centres + rng.normal(0, 0.1, (30, 3))), sectors)
    noise = silhouette(Vectors(tokens, rng.normal(size=(30, 3))), sectors)
    assert 0.9 < tight <= 1.0
    assert -1.0 <= noise < 0.2


def test_sector_map_one_trace_per_sector_escaped():
    vec = Vectors(("<b>", "B", "C", "D"), np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]]))
    fig = sector_map(vec, pd.Series({"<b>": "Tech & <i>", "B": "Tech & <i>", "C": "Energy"}))
    names = sorted(trace.name for trace in fig.data)
    assert names == ["Energy", "Tech &amp; &lt;i&gt;", "no sector"]
    tech = next(t for t in fig.data if t.name.startswith("Tech"))
    assert list(tech.text) == ["&lt;b&gt;", "B"]
    assert len(sector_map(vec, {}, method="tsne").data) == 1


# ---- planted groups -------------------------------------------------------------------------

def test_correlation_baseline_recovers_planted_groups():
    panel, groups = planted_panel()
    for residual in (False, True):
        neighbours = correlation_neighbours(panel, residual=residual)
        assert sector_purity(neighbours, groups, k=5) == 1.0
        assert len(neighbours["G0T0"]) == 15 and "G0T0" not in neighbours["G0T0"]


@pytest.mark.parametrize("method", ["skipgram", "cbow", "glove"])
def test_ticker2vec_recovers_planted_groups_deterministically(method):
    panel, groups = planted_panel()
    config = SentenceConfig(returns=ALL, horizons=(1, 2))
    # a 16-token vocabulary: few dimensions (more let skip-gram fit each pair's noise), small
    # batches (the trainer damps rows repeated often within one batch)
    kwargs = {"dim": 2, "window": 3, "epochs": 30 if method == "glove" else 15, "batch_size": 256}
    vec = ticker2vec(panel, sentences=config, method=method, seed=3, **kwargs)
    assert set(vec.tokens) == set(groups.index)
    assert sector_purity(vec, groups, k=5) >= 0.9
    again = ticker2vec(panel, sentences=config, method=method, seed=3, **kwargs)
    np.testing.assert_array_equal(vec.matrix, again.matrix)


def test_glove_on_a_mid_sized_panel_stays_bounded():
    # 80 tickers: all 6,400 co-occurrence cells fit in one batch and every row recurs 80 times;
    # the undamped sum of AdaGrad moves diverged to |x| ~ 1.6e8 (finite, silently)
    import qseq

    panel = qseq.load_prices("sp500_524", offline=True)
    keep = sorted(panel.index.get_level_values("ticker").unique())[:80]
    vec = ticker2vec(panel[panel.index.get_level_values("ticker").isin(keep)],
                     sentences=SentenceConfig(train_end="2010-04-30"), method="glove", dim=8, seed=0)
    assert np.isfinite(vec.matrix).all() and np.abs(vec.matrix).max() < 10
