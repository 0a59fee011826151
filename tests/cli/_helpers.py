"""What the CLI tests share: run ``qseq`` in-process, and check a one-line user error."""

from __future__ import annotations

from qseq.cli.main import main


def run(capsys, *args) -> tuple[int, str, str]:
    """``qseq ARGS`` in this process: (exit code, stdout, stderr)."""
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line_error(err: str) -> str:
    """The single ``error: ...`` line of ``err`` (no traceback), or an assertion failure."""
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("error: ")
    return lines[0]
