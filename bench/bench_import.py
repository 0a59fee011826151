"""CLI start-up: CPU seconds of ``qseq --help`` and ``qseq models`` against ``import torch``.

Each command runs in a fresh interpreter, ``--repeats`` times; the figure is the child's CPU time
(user + sys, from ``resource.getrusage(RUSAGE_CHILDREN)`` before and after), reported as the
median and the range. CPU time, unlike wall time, hardly moves when the machine is shared.

    python bench/bench_import.py                     # this checkout
    python bench/bench_import.py --src /tmp/old      # another checkout (e.g. a git worktree)

Rows:
- ``python -c pass``: the interpreter's own floor;
- ``import qseq.cli.main``: under ``-X importtime``, whose output gives the top imports by self
  time (median over the runs);
- ``qseq --help``, ``qseq models``: the installed console script (``python -m qseq.cli.main``
  if there is none);
- ``import torch``: the reference; the ratio printed is torch's CPU time over each command's.

"torch loaded" comes from one more, untimed run of each command with
``PYTHONPROFILEIMPORTTIME=1``.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)$")


# ``python -c`` puts the working directory first on sys.path: run from an empty one, so qseq
# comes from the install (or --src), never from whatever checkout the shell is in
_CWD = tempfile.mkdtemp(prefix="qseq_bench_import_")


def _cpu_run(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run ``cmd`` to completion; (CPU seconds of the child, its stderr)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, env=env, cwd=_CWD, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, done.stderr


def _self_times(stderr: str) -> dict[str, int]:
    """``-X importtime`` output -> {module: self microseconds}."""
    out = {}
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            out[match.group(4)] = int(match.group(1))
    return out


def _loads_torch(cmd: list[str], env: dict[str, str]) -> bool:
    _, stderr = _cpu_run(cmd, {**env, "PYTHONPROFILEIMPORTTIME": "1"})
    return any(m == "torch" or m.startswith("torch.") for m in _self_times(stderr))


def _qseq_command() -> list[str]:
    script = shutil.which("qseq", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "qseq.cli.main"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--src", help="import qseq from this checkout (put first on PYTHONPATH)")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.src, env.get("PYTHONPATH")]))
    py, qseq = [sys.executable], _qseq_command()
    rows = {
        "python -c pass": py + ["-c", "pass"],
        "import qseq.cli.main (-X importtime)": py + ["-X", "importtime", "-c", "import qseq.cli.main"],
        "qseq --help": qseq + ["--help"],
        "qseq models": qseq + ["models"],
        "import torch": py + ["-c", "import torch"],
    }
    cpu: dict[str, list[float]] = {name: [] for name in rows}
    self_us: dict[str, list[int]] = {}
    for _ in range(args.repeats):  # interleaved, so drift in the machine's speed hits every row
        for name, cmd in rows.items():
            seconds, stderr = _cpu_run(cmd, env)
            cpu[name].append(seconds)
            if "importtime" in name:
                for module, us in _self_times(stderr).items():
                    self_us.setdefault(module, []).append(us)
    torch_loaded = {name: _loads_torch(cmd, env) for name, cmd in rows.items() if name != "python -c pass"}

    probe = [sys.executable, "-c", "import qseq; print(qseq.__file__)"]
    where = subprocess.run(probe, env=env, cwd=_CWD, capture_output=True, text=True).stdout.strip()
    print(f"CPU seconds (user + sys) of a fresh process, {args.repeats} runs, qseq from {where}")
    print(f"{'command':40s} {'median':>8s} {'min':>8s} {'max':>8s}  {'torch loaded':12s} torch / this")
    ref = statistics.median(cpu["import torch"])
    for name, values in cpu.items():
        med = statistics.median(values)
        loaded = {True: "yes", False: "no"}.get(torch_loaded.get(name), "-")
        ratio = f"{ref / med:.1f}x" if name != "import torch" else ""
        print(f"{name:40s} {med:8.3f} {min(values):8.3f} {max(values):8.3f}  {loaded:12s} {ratio}")
    top = sorted(self_us.items(), key=lambda kv: statistics.median(kv[1]), reverse=True)[:10]
    print("\ntop 10 imports of `import qseq.cli.main` by self time (median ms):")
    for module, values in top:
        print(f"  {statistics.median(values) / 1000:7.2f}  {module}")


if __name__ == "__main__":
    main()
