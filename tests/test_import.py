"""``import qseq`` is cheap (no torch, scipy, pandas or plotly) and every public name still
resolves, on first use."""

from __future__ import annotations

import json
import subprocess
import sys

import qseq

HEAVY = ("torch", "scipy", "pandas", "plotly")


def _fresh(code: str) -> dict:
    """Run ``code`` in a new interpreter; it prints one JSON value."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=True)
    return json.loads(done.stdout)


def test_import_qseq_loads_no_heavy_library():
    loaded = _fresh("import json, sys, qseq, qseq.models, qseq.constants\n"
                    f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert loaded == []


def test_listing_models_loads_no_torch():
    loaded = _fresh("import json, sys\n"
                    "from qseq.models import ModelConfig, get_spec, list_models\n"
                    "from dataclasses import replace\n"
                    "cfg = ModelConfig(input_size=2, horizons=3, lookback=8)\n"
                    "book = replace(cfg, input_size=10, book_levels=2, classes=3)\n"
                    "counts = [get_spec(n, kind=None).parameter_count(\n"
                    "    book if get_spec(n, kind=None).kind == 'order_book' else cfg)\n"
                    "    for n in list_models(None)]\n"
                    f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    assert loaded == []


def test_every_public_name_resolves():
    for name in qseq.__all__:
        assert getattr(qseq, name) is not None, name
    assert set(qseq.__all__) <= set(dir(qseq))
    assert qseq.Forecaster.__module__ == "qseq.forecaster"
    assert callable(qseq.walk_forward) and callable(qseq.list_models)


def test_unknown_attribute_is_an_attribute_error():
    try:
        qseq.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
