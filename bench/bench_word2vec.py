"""word2vec: qseq's PyTorch trainer (:func:`qseq.text.train_word2vec`) against gensim's
Word2Vec on the SAME sentences with the same settings, side by side: wall time and quality.

gensim is NOT a qseq dependency. It is needed only here, in the benchmark environment:

    .venv/bin/pip install gensim==4.4.0
    .venv/bin/python bench/bench_word2vec.py                 # 1 thread each, about 2 minutes
    .venv/bin/python bench/bench_word2vec.py --threads 2 --seeds 3

Corpora:
- ``sp500``: the bundled 524-ticker S&P 500 panel (``qseq.load_prices("sp500_524",
  offline=True)``), first ``--train-fraction`` of the days. Each day's tickers, ordered by that
  day's log return (the same order as the residual after the equal-weight market), are cut into
  sentences of ``--chunk`` tickers. Quality: 5-NN sector purity over the tickers of the bundled
  sector table (442 of the 524), neighbours among those tickers, by cosine; chance printed.
- ``planted``: 20 clusters of 25 tokens with Zipf frequencies inside each cluster (so
  subsampling matters); every sentence draws 20 tokens from one cluster, each replaced with
  probability 0.8 by a token of a random cluster. Quality: 5-NN cluster purity (1.0 = every
  neighbour in its own cluster; chance ~0.04).

Both trainers get dim 64, window 5, negative 5, min_count 1, sample 1e-3, 5 epochs, learning
rate 0.025 decayed linearly to 0.025e-4, seed per run, for skip-gram and CBOW (gensim:
``cbow_mean=1``, as qseq). Threads are pinned: ``torch.set_num_threads(N)`` and gensim
``workers=N`` (``--threads``, default 1); BLAS pools get ``OMP_NUM_THREADS=N`` before numpy
loads. Times are wall seconds of the training call (vocabulary building included for both);
ratios are qseq / gensim (time: above 1 = qseq slower). The load average at the start is
printed: on a shared host re-run alone for the figures that count.
"""

from __future__ import annotations

import argparse
import os
import sys

if __name__ == "__main__":  # thread pins must precede numpy and torch
    _threads = "1"
    for _i, _arg in enumerate(sys.argv):
        if _arg == "--threads" and _i + 1 < len(sys.argv):
            _threads = sys.argv[_i + 1]
        elif _arg.startswith("--threads="):
            _threads = _arg.split("=", 1)[1]
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _threads)

import platform
import time
from collections.abc import Sequence

import numpy as np

SETTINGS = {"dim": 64, "window": 5, "negative": 5, "min_count": 1, "subsample": 1e-3,
            "epochs": 5, "lr": 0.025}


def sp500_sentences(chunk: int, train_fraction: float) -> list[list[str]]:
    """Each day's tickers by log return (lowest first), in sentences of ``chunk`` tickers."""
    import qseq

    panel = qseq.load_prices("sp500_524", offline=True)
    close = panel["close"].unstack("ticker")  # [days, tickers]
    returns = np.log(close).diff().iloc[1:]
    returns = returns.iloc[: int(len(returns) * train_fraction)]
    sentences = []
    for _, day in returns.iterrows():
        order = [str(t) for t in day.dropna().sort_values(kind="stable").index]
        sentences += [order[i:i + chunk] for i in range(0, len(order), chunk)]
    return sentences


def sector_labels() -> dict[str, str]:
    from qseq.data.bundled import load_sectors

    table = load_sectors().drop_duplicates("ticker")
    return dict(zip(table["ticker"], table["sector"], strict=True))


def planted_sentences(seed: int = 0, clusters: int = 20, size: int = 25, n_sentences: int = 5000,
                      length: int = 20, noise: float = 0.8) -> tuple[list[list[str]], dict[str, str]]:
    """Sentences from one cluster each (Zipf frequencies inside a cluster), every token replaced
    with probability ``noise`` by a token of a random cluster; and token -> cluster."""
    rng = np.random.default_rng(seed)
    zipf = 1.0 / np.arange(1, size + 1)
    zipf /= zipf.sum()
    labels = {f"c{c}t{t}": f"c{c}" for c in range(clusters) for t in range(size)}
    sentences = []
    for _ in range(n_sentences):
        cluster = np.where(rng.random(length) < noise, rng.integers(clusters, size=length),
                           rng.integers(clusters))
        token = rng.choice(size, size=length, p=zipf)
        sentences.append([f"c{c}t{t}" for c, t in zip(cluster, token, strict=True)])
    return sentences, labels


def purity(tokens: Sequence[str], matrix: np.ndarray, labels: dict[str, str], k: int = 5) -> float:
    """Mean share of the k cosine-nearest labelled tokens that share a token's label."""
    keep = [i for i, t in enumerate(tokens) if t in labels]
    unit = matrix[keep] / np.linalg.norm(matrix[keep], axis=1, keepdims=True).clip(1e-12)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    nearest = np.argsort(-sim, axis=1, kind="stable")[:, :k]  # [N, k]
    names = np.array([labels[tokens[i]] for i in keep])
    return float((names[nearest] == names[:, None]).mean())


def chance(tokens: Sequence[str], labels: dict[str, str]) -> float:
    """Expected purity of random neighbours: sum over labels of n/N * (n-1)/(N-1)."""
    names = [labels[t] for t in tokens if t in labels]
    _, counts = np.unique(names, return_counts=True)
    n = counts.sum()
    return float((counts * (counts - 1)).sum() / (n * (n - 1)))


def run_qseq(sentences, sg: bool, seed: int, batch_size: int):
    from qseq.text import train_word2vec

    start = time.perf_counter()
    vec = train_word2vec(sentences, sg=sg, seed=seed, batch_size=batch_size, **SETTINGS)
    return time.perf_counter() - start, vec.tokens, vec.matrix


def run_gensim(sentences, sg: bool, seed: int, threads: int):
    from gensim.models import Word2Vec

    s = SETTINGS
    start = time.perf_counter()
    model = Word2Vec(sentences, vector_size=s["dim"], window=s["window"], negative=s["negative"],
                     min_count=s["min_count"], sample=s["subsample"], epochs=s["epochs"],
                     alpha=s["lr"], min_alpha=s["lr"] * 1e-4, sg=int(sg), cbow_mean=1, hs=0,
                     seed=seed, workers=threads)
    return time.perf_counter() - start, tuple(model.wv.index_to_key), model.wv.vectors


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=1, help="runs per cell (mean reported)")
    parser.add_argument("--chunk", type=int, default=50, help="tickers per sentence (sp500)")
    parser.add_argument("--train-fraction", type=float, default=0.6)
    parser.add_argument("--batch-size", type=int, default=2048, help="qseq examples per step")
    parser.add_argument("--corpus", choices=["sp500", "planted", "both"], default="both")
    args = parser.parse_args(argv)

    import gensim
    import torch

    torch.set_num_threads(args.threads)
    print(f"qseq word2vec vs gensim {gensim.__version__} (torch {torch.__version__}); threads: "
          f"torch {torch.get_num_threads()}, gensim workers {args.threads}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} ({platform.machine()})")
    print(f"settings: {SETTINGS}, qseq batch {args.batch_size}, seeds {args.seeds}")
    corpora = []
    if args.corpus in ("sp500", "both"):
        sentences = sp500_sentences(args.chunk, args.train_fraction)
        corpora.append(("sp500", sentences, sector_labels()))
    if args.corpus in ("planted", "both"):
        corpora.append(("planted", *planted_sentences()))

    header = (f"{'corpus':8} {'mode':9} {'tokens':>8} {'qseq s':>8} {'gensim s':>8} {'time x':>7} "
              f"{'qseq k/s':>9} {'gensim k/s':>10} {'purity qseq':>11} {'gensim':>7} {'ratio':>6} "
              f"{'chance':>6}")
    print(header)
    for name, sentences, labels in corpora:
        n_tokens = sum(len(s) for s in sentences)
        vocab = {t for s in sentences for t in s}
        base = chance(sorted(vocab), labels)
        for sg in (True, False):
            ours, theirs = [], []
            for seed in range(args.seeds):
                seconds, tokens, matrix = run_qseq(sentences, sg, seed, args.batch_size)
                ours.append((seconds, purity(tokens, matrix, labels)))
                seconds, tokens, matrix = run_gensim(sentences, sg, seed, args.threads)
                theirs.append((seconds, purity(tokens, matrix, labels)))
            (t_q, p_q), (t_g, p_g) = np.mean(ours, axis=0), np.mean(theirs, axis=0)
            rate = n_tokens * SETTINGS["epochs"] / 1e3
            print(f"{name:8} {'skipgram' if sg else 'cbow':9} {n_tokens:8d} {t_q:8.2f} {t_g:8.2f} "
                  f"{t_q / t_g:7.2f} {rate / t_q:9.0f} {rate / t_g:10.0f} {p_q:11.3f} {p_g:7.3f} "
                  f"{p_q / p_g:6.2f} {base:6.3f}", flush=True)
    print("time x = qseq seconds / gensim seconds; k/s = thousand corpus tokens per second "
          "(before subsampling); ratio = qseq purity / gensim purity")


if __name__ == "__main__":
    main()
