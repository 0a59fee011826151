"""Token embeddings: word2vec (skip-gram, CBOW) and GloVe trainers over any token sequences, and
a vectors container with neighbours, analogies and the GloVe text format.

    import qseq.text as text
    vec = text.train_word2vec(sentences, dim=64, sg=True)      # or text.train_glove(sentences)
    vec.most_similar("AAPL", k=5)
    vec.save_glove("tickers.txt"); text.load_glove("tickers.txt")

Names load on first use (torch and scipy only when needed).
"""

from __future__ import annotations

import importlib

# public name -> the module that defines it
_LAZY = {
    **dict.fromkeys(("Vectors", "load_glove"), "qseq.text.vectors"),
    **dict.fromkeys(("train_word2vec", "encode_corpus", "Corpus", "keep_probabilities",
                     "noise_distribution", "context_matrix", "skipgram_pairs"),
                    "qseq.text.word2vec"),
    **dict.fromkeys(("cooccurrence", "train_glove"), "qseq.text.glove"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
