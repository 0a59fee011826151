"""Plain-text corpora for the word-vector trainers: one sentence per line, tokens separated by
whitespace (``qseq embed words CORPUS``)."""

from __future__ import annotations

from pathlib import Path

from qseq.errors import DataError


def read_corpus(path: str | Path, *, lower: bool = True, min_tokens: int = 2) -> list[list[str]]:
    """Sentences of a UTF-8 text file: each line split on whitespace (lower-cased with
    ``lower``); lines with fewer than ``min_tokens`` tokens are skipped (a word needs a
    context). Raises DataError for a missing, unreadable or empty file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"corpus {path} not found; pass a text file with one sentence per "
                        "line") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"corpus {path} is not UTF-8 text (byte {exc.start}); convert it "
                        "first") from None
    except IsADirectoryError:
        raise DataError(f"corpus {path} is a folder; pass a text file") from None
    sentences = [line.lower().split() if lower else line.split() for line in text.splitlines()]
    sentences = [s for s in sentences if len(s) >= min_tokens]
    if not sentences:
        raise DataError(f"corpus {path} has no line with {min_tokens} or more tokens")
    return sentences
