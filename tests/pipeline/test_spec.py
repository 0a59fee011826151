"""Pipeline specs: strict YAML, dotted-path errors with suggestions, shipped specs all valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from qseq.errors import ConfigError
from qseq.pipeline.run import list_specs
from qseq.pipeline.spec import load_spec

REPO = Path(__file__).resolve().parents[2]
GOOD = "data:\n  tickers: [SPY]\n"


def write(tmp_path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_specs_are_valid_and_cover_the_required_pipelines():
    specs = {path.stem: (spec, error) for path, spec, error in list_specs(REPO / "pipelines")}
    for required in ("spy_gru_daily", "spy_attn_seq2seq_importance", "spx_volatility_vs_har"):
        assert required in specs
    assert all(spec is not None for spec, _ in specs.values()), {k: e for k, (s, e) in specs.items() if e}
    daily = [s for s, _ in specs.values() if getattr(s, "kind", None) != "order_book"]
    assert any(getattr(s, "kind", None) == "order_book" for s, _ in specs.values())
    panels = [s for s in daily if s.data.dataset or len(s.data.tickers) > 1]
    assert panels and any(s.strategy.kind == "cross_sectional" for s in panels)
    vol, gk = specs["spx_volatility_vs_har"][0], specs["spx_volatility_vs_har_gk"][0]
    assert vol.forecaster.target == gk.forecaster.target == "variance"
    assert (vol.forecaster.proxy, gk.forecaster.proxy) == ("parkinson", "garman_klass")
    assert {"har", "har_log", "lhar_log", "garch", "gjr_garch"} <= set(vol.baselines)
    assert vol.forecaster.horizons == (1, 5, 22) and vol.forecaster.ensemble > 1
    assert vol.walk_forward.test_period == "year" and vol.walk_forward.first_test == "2011-01-01"
    assert all(s.schedule.cron for s, _ in specs.values())


def test_calendar_inputs_reach_the_walk_forward_spec(tmp_path):
    spec = load_spec(write(tmp_path, GOOD + "forecaster:\n  model: seq2seq\n"
                                            "  future_features: [day_of_week, turn_of_month]\n"))
    assert spec.walk_forward_spec().forecast.future_features == ("day_of_week", "turn_of_month")


def test_the_forecaster_section_is_the_api_config(tmp_path):
    """The YAML section is ForecastConfig itself: same defaults and checks as Forecaster()."""
    from qseq.config import ForecastConfig
    from qseq.forecaster import Forecaster

    spec = load_spec(write(tmp_path, GOOD + "forecaster: {model: lstm, horizons: [1, 5], "
                                            "train: {epochs: 3}}\n"))
    api = Forecaster(model="lstm", horizons=(1, 5), train={"epochs": 3}).config
    assert spec.forecaster == api == ForecastConfig(model="lstm", horizons=[5, 1],
                                                    train={"epochs": 3})


def test_old_layout_specs_still_load(tmp_path, caplog):
    old = GOOD + ("features: [log_return]\ntarget: cum_log_return\nwindow: {lookback: 20, horizons: 3}\n"
                  "model: {name: lstm, hidden_size: 16}\ntraining: {epochs: 2}\nseed: 7\n")
    spec = load_spec(write(tmp_path, old))
    new = load_spec(write(tmp_path, GOOD + "forecaster: {model: lstm, lookback: 20, horizons: 3, "
                                           "features: [log_return], target: cum_log_return, "
                                           "hidden_size: 16, seed: 7, train: {epochs: 2}}\n", "n.yaml"))
    assert spec.forecaster == new.forecaster
    assert "old layout" in caplog.text and "forecaster:" in caplog.text


def test_defaults_and_name_from_file(tmp_path):
    spec = load_spec(write(tmp_path, GOOD, "my_pipe.yaml"))
    assert spec.name == "my_pipe" and spec.forecaster.model == "gru"
    assert spec.forecaster.horizons == (1, 2, 3, 4, 5)
    assert spec.walk_forward_spec().baselines == ("random_walk",)  # buy_and_hold is a strategy baseline


@pytest.mark.parametrize("text,needle", [
    (GOOD + "window: {lookbak: 3}\n", "unknown key 'window.lookbak'; did you mean 'lookback'?"),
    (GOOD + "walk_forward:\n  trian_bars: 10\n", "'walk_forward.trian_bars'; did you mean 'train_bars'?"),
    (GOOD + "forecastr: {model: gru}\n", "unknown key 'forecastr'; did you mean 'forecaster'?"),
    (GOOD + "forecaster: {lookbak: 3}\n", "unknown key 'forecaster.lookbak'; did you mean 'lookback'?"),
    (GOOD + "forecaster: {model: gru}\nforecaster: {model: lstm}\n", "duplicate key 'forecaster' at line 4"),
    (GOOD + "forecaster: {model: gru, model: lstm}\n", "duplicate key 'model'"),
    (GOOD + "walk_forward: {train_bars: many}\n", "walk_forward.train_bars must be an integer"),
    (GOOD + "forecaster: {model: transformer}\n", "unknown model 'transformer'"),
    (GOOD + "forecaster: {model: gru}\nwindow: {lookback: 3}\n", "in the forecaster section only"),
    (GOOD + "strategy: {kind: pairs}\n", "strategy.kind must be one of"),
    (GOOD + "schedule: {cron: '61 * * * *'}\n", "bad cron"),
    (GOOD + "schedule: {cron: '0 22 * * 1-5', timezone: Mars/Olympus}\n", "timezone"),
    (GOOD + "forecaster: {train: {epochs: 0}}\n", "epochs must be an integer >= 1"),
    (GOOD + "baselines: [har]\n", "use them with target realized_vol or variance"),
    (GOOD + "baselines: [lhar_log]\n", "use them with target variance"),
    (GOOD + "walk_forward: {purge: 1}\nforecaster: {horizons: 5}\n", ""),
    ("data: {tickers: [SPY], path: x.csv}\n", "exactly one of tickers, dataset or path"),
    ("- just\n- a list\n", "a pipeline spec is a mapping"),
    ("data: [unclosed\n", "not valid YAML at line"),
    (GOOD + "name: ../../etc\n", "must be lowercase letters"),
    (GOOD + "forecaster: {features: [log_return, momentum]}\n", "unknown feature 'momentum'"),
    (GOOD + "strategy: {signal_horizon: 9}\n", "not one of the forecast horizons"),
    (GOOD + "forecaster: {future_features: [month]}\n", "no decoder for known-future inputs"),
    (GOOD + "forecaster: {model: seq2seq, future_features: [weekday]}\n", "unknown known-future features"),
    (GOOD + "x: !!python/object/apply:os.system ['echo hacked']\n", "could not determine a constructor"),
    (GOOD + "engine: {workers: two}\n", "engine.workers must be an integer >= 1 or 'auto'"),
    (GOOD + "engine: {workers: 0}\n", "engine.workers must be an integer >= 1 or 'auto'"),
])
def test_bad_specs_name_the_problem(tmp_path, text, needle):
    path = write(tmp_path, text)
    if not needle:  # purge shorter than the horizon is caught when folds are laid out
        from qseq.backtest.folds import make_folds

        spec = load_spec(path)
        import pandas as pd

        with pytest.raises(ConfigError, match="shorter than the longest horizon"):
            make_folds(pd.bdate_range("2000-01-01", periods=3000), spec.walk_forward_spec().folds, 5)
        return
    with pytest.raises(ConfigError) as err:
        load_spec(path)
    message = str(err.value)
    assert needle in message and str(path) in message and "\n" not in message


def test_engine_workers_auto(tmp_path):
    spec = load_spec(write(tmp_path, GOOD + "engine: {kind: local, workers: auto}\n"))
    assert spec.engine.workers == "auto"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="pipeline spec not found"):
        load_spec(tmp_path / "nope.yaml")


def test_digest_changes_with_content(tmp_path):
    a = load_spec(write(tmp_path, GOOD, "a.yaml"))
    b = load_spec(write(tmp_path, GOOD + "forecaster: {seed: 1}\n", "a.yaml"))
    assert a.digest() != b.digest() and a.digest() == load_spec(write(tmp_path, GOOD, "a.yaml")).digest()
