"""Run an example notebook for real, top to bottom, in a fresh kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_notebook(name: str, tmp_path: Path, monkeypatch, *, small: bool = True,
                 timeout: int = 600) -> tuple[str, list[dict]]:
    """Execute ``examples/<name>`` with ``QSEQ_HOME`` (and the working folder) in ``tmp_path``
    and, when ``small``, ``QSEQ_EXAMPLE_SMALL=1``. Fails on the first cell that raised.

    Returns the text of every output (stream text and plain-text results) and the outputs."""
    monkeypatch.setenv("QSEQ_HOME", str(tmp_path))
    if small:
        monkeypatch.setenv("QSEQ_EXAMPLE_SMALL", "1")
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors[0].get("evalue")
    text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                   for o in outputs)
    return text, outputs
