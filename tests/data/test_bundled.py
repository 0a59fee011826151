"""The bundled sample data: MANIFEST integrity, every dataset loads as a valid panel, proxies."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from qseq.data.bundled import (
    DATASETS,
    PROXIES,
    bundled_tickers,
    datasets_dir,
    find_bundled,
    load_dataset,
)
from qseq.data.validate import validate_panel
from qseq.errors import DataError

from ._helpers import DATA_DIR


def _manifest() -> list[dict[str, str]]:
    lines = (DATA_DIR / "MANIFEST").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#")
    header = lines[1].split("\t")
    assert header == ["file", "instrument", "source", "licence", "start", "end", "rows", "sha256"]
    rows = []
    for line in lines[2:]:
        if not line.strip():
            continue
        fields = line.split("\t")
        assert len(fields) == len(header), line
        rows.append(dict(zip(header, fields, strict=True)))
    return rows


MANIFEST = _manifest()


def test_datasets_dir_is_the_repository_folder():
    assert datasets_dir().resolve() == DATA_DIR.resolve()


def test_every_bundled_file_is_in_the_manifest_and_vice_versa():
    on_disk = sorted(p.name for p in DATA_DIR.iterdir() if p.name != "MANIFEST")
    listed = sorted(r["file"] for r in MANIFEST)
    assert listed == on_disk
    assert len(set(listed)) == len(listed)


def test_every_dataset_file_is_in_the_manifest():
    listed = {r["file"] for r in MANIFEST}
    for spec in DATASETS.values():
        assert spec.file in listed


@pytest.mark.parametrize("row", MANIFEST, ids=[r["file"] for r in MANIFEST])
def test_manifest_row_matches_file(row):
    path = DATA_DIR / row["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        date_col = "Date"
    else:
        frame = pd.read_csv(path)
        date_col = next((c for c in ("Date", "date") if c in frame.columns), None)
    assert len(frame) == int(row["rows"])
    if row["start"] == "-":
        assert row["end"] == "-"
        assert date_col is None
        return
    assert date_col in frame.columns
    dates = pd.to_datetime(frame[date_col], format="mixed")
    assert dates.notna().all()
    assert str(dates.min().date()) == row["start"]
    assert str(dates.max().date()) == row["end"]


def test_sectors_table_is_readable():
    from qseq.data.bundled import load_sectors

    sectors = load_sectors()
    assert list(sectors.columns) == ["ticker", "name", "type", "sector", "industry"]
    assert len(sectors) == 497
    # Upstream lists AMT twice (identical rows): 497 rows, 496 distinct tickers.
    dup = sectors[sectors["ticker"].duplicated(keep=False)]
    assert list(dup["ticker"]) == ["AMT", "AMT"]
    assert sectors["ticker"].nunique() == 496


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_load_dataset_is_a_valid_panel(name):
    spec = DATASETS[name]
    panel = load_dataset(name)
    report = validate_panel(panel)
    assert report.ok
    assert list(panel.index.names) == ["date", "ticker"]
    assert "close" in panel.columns
    assert all(panel[c].dtype == np.float64 for c in panel.columns)
    assert panel.index.is_unique and panel.index.is_monotonic_increasing
    tickers = sorted(panel.index.get_level_values("ticker").unique())
    if spec.tickers:
        assert tickers == sorted(spec.tickers)
    assert sorted(report.summary.index) == tickers


def test_load_dataset_returns_a_fresh_copy():
    a = load_dataset("sp500")
    a.iloc[0, 0] = -1.0
    b = load_dataset("sp500")
    assert b.iloc[0, 0] > 0


def test_sp500_524_has_524_tickers_and_expected_span():
    panel = load_dataset("sp500_524")
    assert panel.index.get_level_values("ticker").nunique() == 524
    assert len(panel) == 122574
    dates = panel.index.get_level_values("date")
    assert dates.min() == pd.Timestamp("2009-08-21")
    assert dates.max() == pd.Timestamp("2010-08-20")


def test_sp500_524_raw_fails_ohlc_validation_and_repaired_passes():
    raw = load_dataset("sp500_524", raw=True)
    with pytest.raises(DataError, match=r"(high is below|low is above)"):
        validate_panel(raw)
    report = validate_panel(raw, raise_on_error=False)
    assert {i.column for i in report.issues} == {"high", "low"}
    assert all("ohlc_policy" in i.fix for i in report.issues)
    repaired = load_dataset("sp500_524")
    assert validate_panel(repaired).ok
    # The repair widens bars; it never drops or moves rows, and leaves open/close/volume alone.
    assert repaired.index.equals(raw.index)
    pd.testing.assert_frame_equal(repaired[["open", "close", "volume"]], raw[["open", "close", "volume"]])
    changed = (repaired["high"] != raw["high"]) | (repaired["low"] != raw["low"])
    assert changed.sum() == 78  # the 78 bars the dataset notes declare
    assert (repaired["high"] >= raw["high"]).all() and (repaired["low"] <= raw["low"]).all()


def test_vix_is_close_only_with_the_declared_dropped_days():
    panel = load_dataset("vix")
    assert list(panel.columns) == ["close"]
    assert len(panel) == 1305 - 46


def test_vix_raw_keeps_the_missing_closes():
    raw = load_dataset("vix", raw=True)
    assert raw["close"].isna().sum() == 46
    assert len(raw) == 1305


def test_load_dataset_unknown_name():
    with pytest.raises(DataError, match="unknown bundled dataset 'nope'; available: "):
        load_dataset("nope")


def test_find_bundled_spy_is_the_gspc_proxy():
    name, inner, note = find_bundled("SPY")
    assert (name, inner) == ("sp500", "^GSPC")
    assert "proxy" in note
    assert find_bundled("spy") == (name, inner, note)
    assert PROXIES["SPY"][0] == "^GSPC"


def test_find_bundled_direct_tickers_and_dataset_names():
    assert find_bundled("AAPL") == ("stocks5", "AAPL", None)
    assert find_bundled("^VIX") == ("vix", "^VIX", None)
    assert find_bundled("stocks5") == ("stocks5", "*", None)
    assert find_bundled("SP500_524") == ("sp500_524", "*", None)


def test_find_bundled_unknown_lists_bundled_tickers():
    with pytest.raises(DataError) as info:
        find_bundled("NOPE")
    msg = str(info.value)
    assert "\n" not in msg
    assert "'NOPE'" in msg
    for t in bundled_tickers():
        assert repr(t) in msg
    assert "qseq data fetch NOPE" in msg


def test_gspc_proxy_tracks_real_spy_returns():
    spy = pd.read_csv(DATA_DIR / "spy_daily_returns_1993_2018_zipline.csv.gz")
    assert list(spy.columns) == ["date", "return"]
    spy = spy.set_index(pd.to_datetime(spy["date"]))["return"]
    close = load_dataset("sp500").xs("^GSPC", level="ticker")["close"]
    gspc = close.pct_change()
    joined = pd.concat({"spy": spy, "gspc": gspc}, axis=1, join="inner").dropna()
    assert len(joined) > 4500  # 1999-01-05 .. 2018-04-27
    assert joined["spy"].corr(joined["gspc"]) > 0.95
    # Same sign of the daily move on most days, and a similar level of volatility.
    assert (np.sign(joined["spy"]) == np.sign(joined["gspc"])).mean() > 0.85
    ratio = joined["spy"].std() / joined["gspc"].std()
    assert 0.9 < ratio < 1.1
