"""Order-book pipeline specs (kind: order_book): strict loading, a locked run that writes its
folder atomically, and the listing."""

from __future__ import annotations

import json
import threading

import pandas as pd
import pytest
from filelock import FileLock

from qseq.errors import ConfigError
from qseq.lob.pipeline import LobPipelineSpec
from qseq.pipeline.run import PipelineBusy, list_specs, run_pipeline
from qseq.pipeline.spec import load_spec

TINY = """\
name: tiny_lob
kind: order_book
source: {synthetic: 5000, synthetic_seed: 1}
lob: {model: gru, levels: 3, lookback: 10, horizons: [5, 20], hidden_size: 8, train: {epochs: 1}}
blocks: 2
"""


def write(tmp_path, text: str, name: str = "tiny_lob.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_spec_loads_into_the_api_configs(tmp_path):
    spec = load_spec(write(tmp_path, TINY))
    assert isinstance(spec, LobPipelineSpec)
    assert spec.lob.horizons == (5, 20) and spec.lob.train.epochs == 1
    assert spec.source.synthetic == 5000 and spec.blocks == 2


@pytest.mark.parametrize(("change", "needle"), [
    (("blocks: 2", "blocks: 1"), "blocks must be 0"),
    (("lob: {", "lob: {lookbak: 5, "), "unknown key 'lob.lookbak'; did you mean 'lookback'"),
    (("source: {synthetic: 5000, synthetic_seed: 1}", "source: {}"), "give one order-book source"),
    (("model: gru", "model: lstm_ae"), "unknown order-book model 'lstm_ae'"),
])
def test_bad_specs_name_the_problem(tmp_path, change, needle):
    with pytest.raises(ConfigError, match=needle):
        load_spec(write(tmp_path, TINY.replace(*change)))


def test_run_writes_the_folder_and_a_verdict(tmp_path):
    outcome = run_pipeline(write(tmp_path, TINY), out_root=tmp_path / "out")
    run = outcome.run_dir
    assert run == tmp_path / "out" / "tiny_lob" / "session"
    for name in ("metrics.parquet", "blocks.parquet", "report.html", "manifest.json"):
        assert (run / name).is_file(), name
    assert (run / "checkpoint" / "model.safetensors").is_file()
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["kind"] == "order_book" and manifest["data"]["synthetic"] is True
    blocks = pd.read_parquet(run / "blocks.parquet")
    assert set(blocks["method"]) == {"model", "majority", "logistic_imbalance"}
    assert "imbalance baseline" in outcome.verdict
    assert not list((tmp_path / "out" / "tiny_lob").glob(".*partial"))


def test_a_concurrent_run_is_refused(tmp_path):
    (tmp_path / "out" / "tiny_lob").mkdir(parents=True)
    held = FileLock(str(tmp_path / "out" / "tiny_lob" / ".lock"))
    acquired, release = threading.Event(), threading.Event()

    def hold():
        with held:
            acquired.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    acquired.wait(10)
    try:
        with pytest.raises(PipelineBusy, match="already running"):
            run_pipeline(write(tmp_path, TINY), out_root=tmp_path / "out")
    finally:
        release.set()
        thread.join()


def test_daily_only_flags_are_refused_and_listing_shows_it(tmp_path):
    path = write(tmp_path, TINY)
    with pytest.raises(ConfigError, match="order-book pipeline: --as-of"):
        run_pipeline(path, out_root=tmp_path, as_of="2020-01-01")
    listed = {p.stem: spec for p, spec, _ in list_specs(tmp_path)}
    assert isinstance(listed["tiny_lob"], LobPipelineSpec)
