"""Source resolution in qseq.load_prices: what is asked of which source, and in which order."""

from __future__ import annotations

import pytest

import qseq
from qseq.data import bundled, yahoo


@pytest.fixture
def yahoo_calls(monkeypatch) -> list[str]:
    calls: list[str] = []

    def record(ticker, *args, **kwargs):
        calls.append(ticker)
        raise yahoo.SourceError("Yahoo Finance is unreachable (test)")

    monkeypatch.setattr(yahoo, "fetch_yahoo", record)
    return calls


@pytest.mark.parametrize("name", sorted(bundled.DATASETS) + ["SP500", "Stocks5"])
def test_a_bundled_dataset_name_never_asks_yahoo(qseq_home, yahoo_calls, name):
    panel = qseq.load_prices(name, offline=False)
    assert yahoo_calls == []
    assert panel.attrs["source"] == "bundled"
    assert not any("yfinance" in n or "instead" in n for n in panel.attrs["notes"])


def test_a_ticker_still_tries_yahoo_before_the_bundled_sample(qseq_home, yahoo_calls):
    panel = qseq.load_prices("SPY", start="2010-01-01", end="2010-03-31")
    assert yahoo_calls == ["SPY"]
    assert panel.attrs["source"] == "bundled" and "used the bundled sample instead" in " ".join(
        panel.attrs["notes"])
