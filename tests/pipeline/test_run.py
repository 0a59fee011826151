"""Pipeline runs: run folder contents, idempotent reruns, the lock, interrupted runs, scheduling."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from filelock import FileLock

from qseq.backtest import walk_forward as wf_module
from qseq.pipeline import run as run_module
from qseq.pipeline.run import PipelineBusy, run_pipeline
from qseq.pipeline.serve import build_scheduler

REPO = Path(__file__).resolve().parents[2]
TINY = """
name: {name}
data: {{tickers: [SPY], start: 2013-01-01}}
features: [log_return, log_volume_change, parkinson_vol]
window: {{lookback: 8, horizons: 2}}
model: {{name: {model}, hidden_size: 4, num_layers: 1}}
training: {{epochs: 1, batch_size: 128}}
walk_forward: {{train_bars: 750, test_bars: 250, refit: warm, warm_epochs: 1}}
baselines: [buy_and_hold, random_walk, ar]
importance: {{permutation_repeats: 1}}
schedule: {{cron: "0 22 * * 1-5", timezone: America/New_York}}
"""


def tiny(tmp_path: Path, name: str = "tiny", model: str = "gru", extra: str = "") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(TINY.format(name=name, model=model) + extra)
    return path


def test_run_writes_the_run_folder(tmp_path):
    out = run_pipeline(tiny(tmp_path, model="da_rnn"), out_root=tmp_path / "reports", offline=True)
    assert out.run_dir == tmp_path / "reports" / "tiny" / "2018-12-31"
    names = {p.name for p in out.run_dir.iterdir()}
    assert {"manifest.json", "forecasts.parquet", "metrics.parquet", "importance.parquet",
            "attention.parquet", "folds.parquet", "equity.parquet", "report.html", "checkpoints"} <= names
    man = json.loads((out.run_dir / "manifest.json").read_text())
    assert man["data"]["source"] == "bundled" and "proxy for SPY" in " ".join(man["data"]["notes"])
    assert man["data"]["first_date"] == "2013-01-02" and man["data"]["last_date"] == "2018-12-31"
    assert len(man["spec_sha256"]) == 64 and man["seed"] == 0 and man["versions"]["torch"]
    assert man["timings_s"]["walk_forward"] > 0
    fc = pd.read_parquet(out.run_dir / "forecasts.parquet")
    assert {"date", "ticker", "horizon", "y_hat", "y_true", "fold", "model"} <= set(fc.columns)
    metrics = pd.read_parquet(out.run_dir / "metrics.parquet")
    assert {"forecast", "strategy", "dm"} <= set(metrics["kind"])
    assert {"da_rnn", "buy_and_hold", "random_walk", "ar"} <= set(metrics["model"])
    imp = pd.read_parquet(out.run_dir / "importance.parquet")
    assert set(imp["method"]) == {"attention", "permutation"}
    ckpt = next((out.run_dir / "checkpoints").rglob("model.safetensors"))
    assert ckpt.with_name("config.json").is_file()
    assert not list((tmp_path / "reports" / "tiny").glob(".*partial"))


def test_rerun_same_date_is_idempotent_and_reuses_folds(tmp_path, monkeypatch):
    spec = tiny(tmp_path)
    first = run_pipeline(spec, out_root=tmp_path, offline=True, as_of="2018-06-29")
    assert first.run_dir.name == "2018-06-29"
    fc1 = pd.read_parquet(first.run_dir / "forecasts.parquet")
    assert fc1["date"].max() <= pd.Timestamp("2018-06-29")
    calls = []
    real = wf_module.run_fold
    monkeypatch.setattr(wf_module, "run_fold", lambda *a, **k: calls.append(1) or real(*a, **k))
    second = run_pipeline(spec, out_root=tmp_path, offline=True, as_of="2018-06-29")
    assert calls == []  # every fold reused
    for name in ("forecasts", "metrics", "importance", "equity"):
        pd.testing.assert_frame_equal(pd.read_parquet(first.run_dir / f"{name}.parquet"),
                                      pd.read_parquet(second.run_dir / f"{name}.parquet"))
    m1 = json.loads((first.run_dir / "manifest.json").read_text())
    assert m1["spec_sha256"] == second.manifest["spec_sha256"]


def test_a_concurrent_run_is_refused(tmp_path):
    spec = tiny(tmp_path)
    (tmp_path / "tiny").mkdir()
    held = FileLock(str(tmp_path / "tiny" / ".lock"))
    acquired = threading.Event()
    release = threading.Event()

    def hold():
        with held:
            acquired.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    acquired.wait(10)
    try:
        # a second FileLock object on the same file: the OS lock refuses it
        with pytest.raises(PipelineBusy, match="already running"):
            run_pipeline(spec, out_root=tmp_path, offline=True)
    finally:
        release.set()
        t.join()


def test_interrupted_run_keeps_the_previous_run_and_resumes(tmp_path, monkeypatch):
    spec = tiny(tmp_path)
    good = run_pipeline(spec, out_root=tmp_path, offline=True)
    before = {p.name: p.read_bytes() for p in good.run_dir.iterdir() if p.is_file()}
    # change the spec (new folds needed) and crash after two folds
    spec.write_text(spec.read_text().replace("seed: 0", "") + "seed: 5\n")
    real = wf_module.run_fold
    done = []

    def crash(fold, *a, **k):
        if fold.index == 2:
            raise KeyboardInterrupt
        done.append(fold.index)
        return real(fold, *a, **k)

    monkeypatch.setattr(wf_module, "run_fold", crash)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(spec, out_root=tmp_path, offline=True)
    after = {p.name: p.read_bytes() for p in good.run_dir.iterdir() if p.is_file()}
    assert before == after  # the previous good run is untouched
    assert (tmp_path / "tiny" / ".2018-12-31.partial").is_dir()
    done.clear()
    monkeypatch.setattr(wf_module, "run_fold",
                        lambda fold, *a, **k: done.append(fold.index) or real(fold, *a, **k))
    resumed = run_pipeline(spec, out_root=tmp_path, offline=True)
    assert done and min(done) == 2  # folds 0 and 1 came from the interrupted run
    assert json.loads((resumed.run_dir / "manifest.json").read_text())["seed"] == 5


def test_failure_in_evaluation_leaves_no_half_written_run(tmp_path, monkeypatch):
    spec = tiny(tmp_path)

    def boom(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(run_module, "evaluate", boom)
    with pytest.raises(RuntimeError):
        run_pipeline(spec, out_root=tmp_path, offline=True)
    assert not (tmp_path / "tiny" / "2018-12-31").exists()


def test_volatility_pipeline_scores_qlike_against_har_and_garch(tmp_path):
    text = TINY.format(name="vol", model="lstm").replace(
        "baselines: [buy_and_hold, random_walk, ar]", "baselines: [random_walk, har, garch]"
    ) + "target: realized_vol\n"
    path = tmp_path / "vol.yaml"
    path.write_text(text)
    out = run_pipeline(path, out_root=tmp_path, offline=True)
    m = out.metrics
    qlike = m[(m["kind"] == "forecast") & (m["metric"] == "qlike")]
    assert {"lstm", "har", "garch", "random_walk"} <= set(qlike["model"])
    assert (qlike["value"] > 0).all()
    assert m[m["kind"] == "strategy"].empty  # no trading strategy on a volatility target
    dm = m[(m["kind"] == "dm") & (m["metric"] == "dm_pvalue")]
    assert {"har", "garch"} <= set(dm["benchmark"])


def test_shipped_volatility_protocol_runs_on_a_slice(tmp_path):
    """pipelines/spx_volatility_vs_har.yaml, cut down (2 test years, a 2-member ensemble, tiny
    network): QLIKE at every horizon against every baseline, DM on QLIKE, per-year ratios, and
    a verdict against the strongest baseline, in the metrics and the report."""
    import yaml

    spec = yaml.safe_load((REPO / "pipelines" / "spx_volatility_vs_har.yaml").read_text())
    # a second series trains the model beside ^GSPC; only ^GSPC is forecast and scored
    spec["data"] = {"tickers": ["^GSPC", "^IXIC"], "start": "2010-01-01"}
    spec["walk_forward"]["score_tickers"] = ["^GSPC"]
    spec["forecaster"].update(hidden_size=4, ensemble=2, lookback=22,
                              train={"epochs": 1, "batch_size": 256})
    spec["walk_forward"].update(first_test="2017-01-01")
    spec["engine"]["workers"] = 1
    path = tmp_path / "vol.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = run_pipeline(path, out_root=tmp_path, offline=True)
    m = out.metrics
    qlike = m[(m["kind"] == "forecast") & (m["metric"] == "qlike")]
    models = {"gru", "random_walk", "har", "har_log", "lhar_log", "garch", "gjr_garch"}
    assert set(qlike["model"]) == models and set(qlike["horizon"]) == {"1", "5", "22"}
    yearly = m[m["kind"] == "yearly"]
    assert set(yearly["metric"]) == {"2017", "2018"} and set(yearly["benchmark"]) == models - {"gru"}
    assert out.manifest["folds"] == 2
    assert "Against the strongest baseline at h=1" in out.verdict and "in QLIKE" in out.verdict
    page = (out.run_dir / "report.html").read_text()
    assert "QLIKE by horizon" in page and "per calendar year" in page
    assert "ensemble of 2" in page and "refit full every year" in page
    assert set(pd.read_parquet(out.run_dir / "forecasts.parquet")["ticker"]) == {"^GSPC"}
    assert "scored: ^GSPC (the panel&#x27;s other tickers only train the model)" in page


@pytest.mark.slow
def test_scheduler_runs_each_spec_and_survives_a_failing_one(tmp_path):
    specs = tmp_path / "pipelines"
    specs.mkdir()
    tiny(specs, "good")
    tiny(specs, "bad").write_text(TINY.format(name="bad", model="gru").replace("[SPY]", "[NOSUCH]"))
    (specs / "broken.yaml").write_text("data: {tickers: [SPY]}\nwindow: {lookbak: 3}\n")
    (specs / "unscheduled.yaml").write_text("data: {tickers: [SPY]}\n")
    scheduler, jobs, problems, record = build_scheduler(specs, tmp_path / "reports", offline=True,
                                                        now=True, background=True)
    assert sorted(j.id for j in jobs) == ["bad", "good"]
    assert len(problems) == 1 and "lookbak" in problems[0]
    assert all(j.trigger.timezone.key == "America/New_York" for j in jobs)
    scheduler.start()
    try:
        deadline = time.time() + 240
        while len(record.runs) < 2 and time.time() < deadline:
            time.sleep(0.5)
    finally:
        scheduler.shutdown(wait=True)
    results = {name: ok for name, ok, _ in record.runs}
    assert results == {"good": True, "bad": False}
    assert (tmp_path / "reports" / "good" / "2018-12-31" / "report.html").is_file()
    assert "NOSUCH" in next(msg for name, _, msg in record.runs if name == "bad")
