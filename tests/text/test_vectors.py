"""Vectors: lookups, cosine neighbours and 3CosAdd by hand, the GloVe text format and its errors."""

from __future__ import annotations

import numpy as np
import pytest

from qseq.errors import DataError
from qseq.text.vectors import Vectors, load_glove

TOKENS = ("king", "queen", "man", "woman", "apple")


@pytest.fixture
def vec() -> Vectors:
    matrix = np.array([[2.0, 1.0, 0.0],    # king
                       [2.0, 0.0, 1.0],    # queen
                       [1.0, 1.0, 0.0],    # man
                       [1.0, 0.0, 1.0],    # woman
                       [0.0, -1.0, -1.0]],  # apple
                      dtype=np.float32)
    return Vectors(TOKENS, matrix)


def test_lookup(vec):
    assert vec.index("woman") == 3
    assert len(vec) == 5 and vec.dim == 3 and "king" in vec and "pear" not in vec
    np.testing.assert_array_equal(vec.vector("queen"), [2.0, 0.0, 1.0])
    assert vec.matrix.dtype == np.float32


def test_unknown_token_names_a_close_match(vec):
    with pytest.raises(DataError, match=r"unknown token 'qeen' \(did you mean 'queen'\?\)"):
        vec.index("qeen")
    with pytest.raises(DataError, match="unknown token 'zzz'; the vocabulary"):
        vec.vector("zzz")


def test_most_similar_by_hand(vec):
    unit = vec.matrix / np.linalg.norm(vec.matrix, axis=1, keepdims=True)
    cos = unit @ unit[0]
    got = vec.most_similar("king", k=4)
    want = sorted(((TOKENS[i], float(cos[i])) for i in range(1, 5)), key=lambda x: -x[1])
    assert [t for t, _ in got] == [t for t, _ in want] == ["man", "queen", "woman", "apple"]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-6)
    assert [t for t, _ in vec.most_similar("king", k=2, exclude=["man"])] == ["queen", "woman"]
    # a vector query excludes nothing; k larger than the vocabulary is capped
    assert vec.most_similar(np.array([2.0, 1.0, 0.0]), k=10)[0][0] == "king"
    assert len(vec.most_similar("king", k=10)) == 4


def test_analogy_3cosadd(vec):
    # king - man + woman over unit vectors; the inputs are excluded
    got = vec.analogy("king", "man", "woman", k=2)
    assert got[0][0] == "queen"
    unit = vec.normalized().matrix
    target = unit[0] - unit[2] + unit[3]
    np.testing.assert_allclose(got[0][1], unit[1] @ target / np.linalg.norm(target), rtol=1e-6)
    assert {t for t, _ in vec.analogy("king", "man", "woman", k=5)} == {"queen", "apple"}


def test_normalized_keeps_zero_rows():
    vec = Vectors(("a", "b"), np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(vec.normalized().matrix, [[0.6, 0.8], [0.0, 0.0]])
    assert vec.most_similar("a", k=1) == [("b", 0.0)]


def test_bad_construction():
    with pytest.raises(DataError, match="shape"):
        Vectors(("a", "b"), np.zeros((3, 2)))
    with pytest.raises(DataError, match="token 'a' appears twice"):
        Vectors(("a", "a"), np.zeros((2, 2)))
    with pytest.raises(DataError, match="without whitespace"):
        Vectors(("new york",), np.zeros((1, 2)))


def test_glove_round_trip_is_exact(vec, tmp_path):
    rng = np.random.default_rng(0)
    vec = Vectors(vec.tokens, rng.normal(size=(5, 7)).astype(np.float32) * 1e3)
    path = tmp_path / "sub" / "vectors.txt"
    vec.save_glove(path)
    first = path.read_text().splitlines()[0].split(" ")
    assert first[0] == "king" and len(first) == 8
    back = load_glove(path)
    assert back.tokens == vec.tokens
    np.testing.assert_array_equal(back.matrix, vec.matrix)
    assert [p.name for p in path.parent.iterdir()] == ["vectors.txt"]  # no temporary left


def test_load_vocab_subset_header_and_blank_lines(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("3 2\nb 1 2\n\nc 3 4\na 5 6.5\n")
    vec = load_glove(path, vocab=["a", "b", "zzz"])
    assert vec.tokens == ("b", "a")  # file order, missing ones left out
    np.testing.assert_array_equal(vec.matrix, [[1, 2], [5, 6.5]])
    assert load_glove(path).tokens == ("b", "c", "a")


@pytest.mark.parametrize(("text", "message"), [
    ("", r"v\.txt holds no vectors \(empty file\)"),
    ("\n  \n", r"holds no vectors"),
    ("a 1 2\nb 1 2 3\n", r"v\.txt:2: 3 values, expected 2 like the first row"),
    ("a 1 2\nb 1\n", r"v\.txt:2: 1 values, expected 2"),
    ("a 1 2\nb 1 x\n", r"v\.txt:2: field 3 'x' is not a number"),
    ("a 1 2\nb nan 2\n", r"v\.txt:2: field 2 is 'nan'; vectors must be finite"),
    ("a 1 2\nb 1 2\na 3 4\n", r"v\.txt:3: token 'a' repeats line 1"),
    ("a\n", r"v\.txt:1: token 'a' has no values"),
    ("2 3\na 1 2\n", r"v\.txt:1: header says 3 values per row but line 2 has 2"),
])
def test_malformed_files(tmp_path, text, message):
    path = tmp_path / "v.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        load_glove(path)


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(DataError, match="no vectors file"):
        load_glove(tmp_path / "nope.txt")
    path = tmp_path / "v.bin"
    path.write_bytes(b"a 1 2\n\xff\xfe 1 2\n")
    with pytest.raises(DataError, match="is not UTF-8 text"):
        load_glove(path)
