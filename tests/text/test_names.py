"""Name tables and the held-out comparison behind ``qseq text classify-names``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qseq.config import CharRNNConfig
from qseq.errors import ConfigError, DataError
from qseq.text.names import _mcnemar_p, compare_name_classifiers, read_names

TINY = CharRNNConfig(embed_dim=4, hidden_size=8, epochs=2, batch_size=16)


def _table(n_per: int = 12) -> tuple[list[str], list[str]]:
    words = {"Energy": "Petroleum", "Financials": "Bancorp", "Utilities": "Power"}
    names, labels = [], []
    for label, word in words.items():
        for i in range(n_per):
            names.append(f"{chr(65 + i)}{chr(97 + (i * 7) % 26)}x {word}")
            labels.append(label)
    return names, labels


def test_ngram_baseline_reads_the_sector_word_and_rows_are_consistent():
    names, labels = _table()
    result = compare_name_classifiers(names, labels, TINY, test_size=0.25)
    table = result.table
    assert list(table.index) == ["majority class", "char n-gram LR", "char-RNN (gru)"]
    assert table.loc["char n-gram LR", "accuracy"] == 1.0  # the sector word decides the label
    assert table.loc["majority class", "accuracy"] == pytest.approx(1 / 3)
    assert np.isnan(table.loc["char n-gram LR", "mcnemar_p_vs_ngram"])
    assert len(result.test_names) == 9 and set(result.test_names) <= set(names)
    for model, pred in result.predictions.items():
        acc = np.mean(np.asarray(pred, dtype=object) == np.asarray(result.test_labels, dtype=object))
        assert acc == pytest.approx(table.loc[model, "accuracy"])
    again = compare_name_classifiers(names, labels, TINY, test_size=0.25)
    pd.testing.assert_frame_equal(table, again.table)  # seeded


def test_mcnemar_known_answer():
    truth = np.array(["a"] * 10, dtype=object)
    a = np.array(["a"] * 10, dtype=object)
    b = np.array(["a"] * 4 + ["b"] * 6, dtype=object)
    # 6 discordant pairs all one way: exact two-sided p = 2 * 0.5**6
    assert _mcnemar_p(truth, a, b) == pytest.approx(2 * 0.5 ** 6)
    assert _mcnemar_p(truth, a, a) == 1.0


def test_read_names_csv_parquet_and_errors(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("Name,Sector\nAcme Oil,Energy\nAcme Oil,Energy\nFirst Bank,Financials\n")
    assert read_names(path) == (["Acme Oil", "First Bank"], ["Energy", "Financials"])
    pq = tmp_path / "n.parquet"
    pd.DataFrame({"name": ["x", "y"], "label": ["p", "q"]}).to_parquet(pq)
    assert read_names(pq) == (["x", "y"], ["p", "q"])
    with pytest.raises(DataError, match="no names file"):
        read_names(tmp_path / "missing.csv")
    (tmp_path / "bad.csv").write_text("title,label\nx,y\n")
    with pytest.raises(DataError, match="bad.csv has no 'name' column"):
        read_names(tmp_path / "bad.csv")
    (tmp_path / "gap.csv").write_text("name,label\nx,y\n,z\n")
    with pytest.raises(DataError, match="row 2 has an empty name"):
        read_names(tmp_path / "gap.csv")
    with pytest.raises(DataError, match="held-out share"):
        compare_name_classifiers(["a", "b"], ["x", "y"], TINY, test_size=1.5)


def test_char_config_is_declared_once_with_clear_errors():
    import qseq
    import qseq.text as text

    assert qseq.CharRNNConfig is text.CharRNNConfig is CharRNNConfig
    with pytest.raises(ConfigError, match="lr must be a positive number"):
        CharRNNConfig(lr=0)
    with pytest.raises(ConfigError, match="seed must be an integer"):
        CharRNNConfig(seed=1.5)
