"""``qseq --help`` and ``qseq models`` start without torch (or pandas, scipy, plotly): the CLI
imports heavy libraries inside the commands that need them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "pandas", "scipy", "plotly")


def _modules_after(*args: str) -> tuple[int, str, list[str]]:
    """Run ``qseq ARGS`` in a fresh interpreter; (exit code, stdout, heavy modules loaded)."""
    code = ("import contextlib, io, json, sys\n"
            "from qseq.cli.main import main\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            f"    rc = main({list(args)!r})\n"
            f"print(json.dumps([rc, out.getvalue(), [m for m in {HEAVY!r} if m in sys.modules]]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=True)
    rc, out, loaded = json.loads(done.stdout.splitlines()[-1])
    return rc, out, loaded


@pytest.mark.parametrize("args", [["--help"], ["models"], ["anomaly", "--help"], ["backtest", "--help"],
                                  ["forecast", "--help"], ["pipeline", "--help"]])
def test_command_starts_without_heavy_imports(args):
    rc, out, loaded = _modules_after(*args)
    assert rc == 0 and out
    assert loaded == []


def test_models_prints_counts_without_torch():
    rc, out, loaded = _modules_after("models", "--hidden-size", "64", "--layers", "2")
    assert rc == 0 and loaded == []
    assert "38,341" in out  # gru: torch's nn.GRU(2, 64, num_layers=2) + the 5-horizon head
