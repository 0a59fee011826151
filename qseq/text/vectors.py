"""Token vectors: a vocabulary and its ``[V, D]`` matrix, with cosine neighbours, 3CosAdd
analogies and the GloVe text format (one token then its D floats per line, space-separated).

    vec = load_glove("vectors.txt")                  # or train_word2vec(...), train_glove(...)
    vec.most_similar("AAPL", k=5)                    # [(token, cosine), ...]
    vec.analogy("king", "man", "woman")              # king - man + woman -> [("queen", 0.8), ...]
    vec.save_glove("vectors.txt")
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from qseq._io import atomic_write_text
from qseq.errors import DataError


@dataclass(frozen=True, eq=False)
class Vectors:
    """``tokens[i]`` owns row ``i`` of ``matrix`` (``[V, D]`` float32; stored as float32).

    Tokens are distinct non-empty strings without whitespace (so the GloVe text format can hold
    them). Compare two instances with ``tokens`` and ``np.array_equal(matrix)``.
    """

    tokens: tuple[str, ...]
    matrix: np.ndarray  # [V, D] float32
    _lookup: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tokens = tuple(str(t) if isinstance(t, str) else t for t in self.tokens)  # numpy str_ -> str
        matrix = np.ascontiguousarray(self.matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(tokens):
            raise DataError(f"vectors need a [V, D] matrix with V = {len(tokens)} tokens, "
                            f"got shape {matrix.shape}; pass one row per token")
        lookup: dict[str, int] = {}
        for i, token in enumerate(tokens):
            _check_token(token, where=f"token {i}")
            if token in lookup:
                raise DataError(f"token {token!r} appears twice (rows {lookup[token]} and {i}); "
                                "tokens must be distinct")
            lookup[token] = i
        object.__setattr__(self, "tokens", tokens)
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "_lookup", lookup)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._lookup

    @property
    def dim(self) -> int:
        """D, the vector length."""
        return int(self.matrix.shape[1])

    def index(self, token: str) -> int:
        """Row of ``token``; a DataError names an unknown token and the closest known one."""
        row = self._lookup.get(token)
        if row is None:
            close = difflib.get_close_matches(str(token), self.tokens, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise DataError(f"unknown token {token!r}{hint}; the vocabulary has {len(self)} tokens, "
                            "check the spelling or retrain with it")
        return row

    def vector(self, token: str) -> np.ndarray:
        """The ``[D]`` vector of ``token`` (a copy)."""
        return self.matrix[self.index(token)].copy()

    def normalized(self) -> Vectors:
        """The same tokens with unit-length rows (an all-zero row stays zero)."""
        return Vectors(self.tokens, _unit_rows(self.matrix))

    def most_similar(self, token_or_vector: str | np.ndarray, k: int = 10,
                     exclude: Iterable[str] = ()) -> list[tuple[str, float]]:
        """The ``k`` tokens of highest cosine similarity to a token (itself excluded) or to a
        ``[D]`` vector, best first, as ``(token, cosine)``; ``exclude`` drops more tokens."""
        skip = [self.index(t) for t in exclude]
        if isinstance(token_or_vector, str):
            skip.append(self.index(token_or_vector))
            query = self.matrix[skip[-1]]
        else:
            query = np.asarray(token_or_vector, dtype=np.float32)
            if query.shape != (self.dim,):
                raise DataError(f"query vector has shape {query.shape}, expected ({self.dim},); "
                                "pass a token or one vector of the same dimension")
        return self._top(query, k, skip)

    def analogy(self, a: str, b: str, c: str, k: int = 5) -> list[tuple[str, float]]:
        """3CosAdd (Mikolov et al. 2013): tokens nearest ``a - b + c`` over unit vectors,
        ``a``, ``b`` and ``c`` excluded; ``analogy("king", "man", "woman")`` -> queen."""
        rows = [self.index(t) for t in (a, b, c)]
        unit = _unit_rows(self.matrix[rows])
        return self._top(unit[0] - unit[1] + unit[2], k, rows)

    def _top(self, query: np.ndarray, k: int, skip: Collection[int]) -> list[tuple[str, float]]:
        if k < 1:
            raise DataError(f"k must be a positive number of neighbours, got {k}")
        norm = float(np.linalg.norm(query))
        scores = _unit_rows(self.matrix) @ (query / norm if norm > 0 else query)  # [V]
        scores[list(skip)] = -np.inf
        k = min(k, len(self) - len(set(skip)))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]  # best first, ties by row
        return [(self.tokens[i], float(scores[i])) for i in top]

    def save_glove(self, path: str | os.PathLike[str]) -> None:
        """Write the GloVe text format (``token v1 ... vD`` per line, ``%.9g`` so float32
        round-trips exactly), atomically."""
        values = np.char.mod("%.9g", self.matrix)  # [V, D] str
        lines = [f"{token} {' '.join(row)}\n" for token, row in zip(self.tokens, values, strict=True)]
        atomic_write_text(path, "".join(lines))


def load_glove(path: str | os.PathLike[str], vocab: Iterable[str] | None = None) -> Vectors:
    """Read the GloVe text format: per line a token then its D floats, whitespace-separated.

    A first line of two integers ``V D`` (the word2vec text header) is skipped. ``vocab`` keeps
    only those tokens (in file order; the others are checked only for duplicates), else all.
    Blank lines are skipped. A DataError names the file and 1-based line of a ragged row (a
    dimension other than the first row's), a non-numeric or non-finite value, a duplicate token,
    or an empty file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no vectors file {path}; check the path")
    wanted = None if vocab is None else set(vocab)
    tokens: list[str] = []
    rows: list[list[str]] = []
    lines: list[int] = []
    seen: dict[str, int] = {}
    dim = header_dim = None
    try:
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                fields = line.split()
                if not fields:
                    continue
                if dim is None and number == 1 and _is_header(fields):
                    header_dim = int(fields[1])
                    continue
                token = fields[0]
                if token in seen:
                    raise DataError(f"{path}:{number}: token {token!r} repeats line {seen[token]}; "
                                    "tokens must be distinct, remove one")
                seen[token] = number
                if dim is None:
                    dim = len(fields) - 1
                    if dim == 0:
                        raise DataError(f"{path}:{number}: token {token!r} has no values; "
                                        "each line is a token then its vector")
                    if header_dim is not None and dim != header_dim:
                        raise DataError(f"{path}:1: header says {header_dim} values per row but "
                                        f"line {number} has {dim}; fix or remove the header")
                if len(fields) - 1 != dim:
                    raise DataError(f"{path}:{number}: {len(fields) - 1} values, expected {dim} "
                                    f"like the first row; fix the ragged line (a token with spaces?)")
                if wanted is None or token in wanted:
                    tokens.append(token)
                    rows.append(fields[1:])
                    lines.append(number)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                        "save it as UTF-8") from None
    if dim is None:
        raise DataError(f"{path} holds no vectors (empty file); expected 'token v1 ... vD' lines")
    matrix = _parse_rows(rows, lines, dim, path)
    return Vectors(tuple(tokens), matrix)


def _parse_rows(rows: list[list[str]], lines: list[int], dim: int, path: Path) -> np.ndarray:
    """``[V, D]`` float32 from the string fields; a bad value is located only on failure."""
    try:
        matrix = np.array(rows, dtype=np.float32).reshape(len(rows), dim)
    except ValueError:
        matrix = None
    if matrix is not None and np.isfinite(matrix).all():
        return matrix
    for fields, number in zip(rows, lines, strict=True):
        for column, text in enumerate(fields, start=2):
            try:
                value = float(text)
            except ValueError:
                raise DataError(f"{path}:{number}: field {column} {text!r} is not a number; "
                                "each line is a token then D floats") from None
            if not math.isfinite(value):
                raise DataError(f"{path}:{number}: field {column} is {text!r}; vectors must be "
                                "finite numbers")
    raise AssertionError("unreachable: a row failed to parse but no field did")  # pragma: no cover


def _is_header(fields: list[str]) -> bool:
    return len(fields) == 2 and all(f.isdigit() for f in fields)


def _check_token(token: object, where: str) -> None:
    if not isinstance(token, str) or not token or any(ch.isspace() for ch in token):
        raise DataError(f"{where} {token!r} is not a non-empty string without whitespace; "
                        "the GloVe text format splits on whitespace, replace it (e.g. with '_')")


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """``[N, D]`` rows scaled to unit length; all-zero rows stay zero."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms > 0, norms, 1.0)).astype(np.float32)
