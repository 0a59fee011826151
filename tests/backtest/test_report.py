"""The backtest report in a real headless Chromium: renders with no JavaScript errors, every
figure is present and drawn, and data-derived text is escaped (an injected script never runs)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from qseq.backtest.report import FIGURES
from qseq.pipeline.run import run_pipeline

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRE_BROWSER = os.environ.get("QSEQ_REQUIRE_BROWSER") == "1"  # bash .ci/run sets it
EVIL = "<script>window.__pwned = 1</script><img src=x onerror='window.__pwned=2'>"

SPEC = """
name: browser
data: {{tickers: [SPY], start: 2013-01-01}}
features: [log_return, log_volume_change, parkinson_vol]
window: {{lookback: 8, horizons: 3}}
model: {{name: da_rnn, hidden_size: 4, num_layers: 1}}
training: {{epochs: 1}}
walk_forward: {{train_bars: 750, test_bars: 250, refit: warm, warm_epochs: 1}}
baselines: [buy_and_hold, random_walk]
importance: {{permutation_repeats: 1}}
report: {{title: "{title}"}}
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("browser")
    spec = tmp / "browser.yaml"
    spec.write_text(SPEC.format(title=EVIL.replace('"', '\\"')))
    return run_pipeline(spec, out_root=tmp, offline=True).run_dir / "report.html"


def test_report_is_self_contained_and_escaped(report):
    text = report.read_text()
    assert "<script>window.__pwned" not in text and "&lt;script&gt;window.__pwned" in text
    # plotly.js is inlined: no external script
    assert "<script src=" not in text and "<script type=\"text/javascript\" src=" not in text
    for name in FIGURES:
        assert f'id="fig-{name}"' in text


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM and not REQUIRE_BROWSER,
                    reason="no chromium binary on PATH: apt-get install chromium to run it "
                           "(bash .ci/run does, and sets QSEQ_REQUIRE_BROWSER=1 to make it required)")
def test_report_renders_in_headless_chromium(request):
    assert CHROMIUM, "headless Chromium is required: apt-get install chromium (bash .ci/run does it)"
    report = request.getfixturevalue("report")  # after the check: no pipeline run to fail on
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("dialog", lambda d: errors.append(f"dialog: {d.message}"))
            page.goto(report.as_uri())
            page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length >= {len(FIGURES)}",
                                   timeout=60_000)
            drawn = page.evaluate(
                "Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => "
                "[d.id, d.querySelectorAll('svg.main-svg').length, (d.data || []).length])")
            pwned = page.evaluate("window.__pwned === undefined")
            title = page.inner_text("h1")
        finally:
            browser.close()
    assert errors == []
    assert pwned, "injected markup ran: report text is not escaped"
    assert title == EVIL
    by_id = {fid: (svgs, traces) for fid, svgs, traces in drawn}
    assert set(by_id) == {f"fig-{n}" for n in FIGURES}
    for name in FIGURES:
        svgs, traces = by_id[f"fig-{name}"]
        assert svgs >= 1, name
        assert traces >= 1, name  # the da_rnn run has attention, so every figure has data
