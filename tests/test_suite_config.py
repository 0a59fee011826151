"""The test suite's own switches: the ``slow`` marker (a quick ``-m "not slow"`` loop) with strict
markers, and the headless-Chromium test that skips without a browser unless one is required."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SLOW = {
    "tests/test_notebook.py::test_quickstart_notebook_runs",
    "tests/backtest/test_report.py::test_report_renders_in_headless_chromium",
    "tests/backtest/test_ray_engine.py::test_ray_engine_matches_local_engine_on_a_real_cluster",
    "tests/pipeline/test_run.py::test_scheduler_runs_each_spec_and_survives_a_failing_one",
}
BROWSER_TEST = "tests/backtest/test_report.py::test_report_renders_in_headless_chromium"


def _pytest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.mark.slow  # a whole pytest run in a subprocess
def test_slow_marker_selects_the_notebook_browser_ray_and_scheduler_tests():
    """``-m slow`` picks exactly these from their modules, so ``-m "not slow"`` leaves them out."""
    proc = _pytest("--collect-only", "-q", "-m", "slow", *sorted({s.split("::")[0] for s in SLOW}))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {line.strip() for line in proc.stdout.splitlines() if "::" in line} == SLOW
    assert "deselected" in proc.stdout  # the other tests of those modules are not slow


def test_an_unregistered_marker_is_an_error(tmp_path):
    (tmp_path / "test_typo.py").write_text("import pytest\n\n@pytest.mark.slwo\ndef test_x():\n    pass\n")
    proc = _pytest("-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path), str(tmp_path))
    assert proc.returncode != 0 and "'slwo' not found in `markers`" in proc.stdout + proc.stderr


@pytest.mark.slow  # a whole pytest run in a subprocess
def test_browser_test_skips_without_chromium_unless_required(tmp_path):
    no_browser = {"PATH": str(tmp_path)}  # shutil.which finds no chromium here
    skipped = _pytest("-rs", BROWSER_TEST, env={**no_browser, "QSEQ_REQUIRE_BROWSER": ""})
    assert skipped.returncode == 0, skipped.stdout
    assert "1 skipped" in skipped.stdout and "no chromium binary on PATH" in skipped.stdout
    required = _pytest(BROWSER_TEST, env={**no_browser, "QSEQ_REQUIRE_BROWSER": "1"})
    assert required.returncode == 1 and "1 failed" in required.stdout
    assert "headless Chromium is required" in required.stdout
