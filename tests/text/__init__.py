"""Text tests; shared synthetic corpora with planted structure."""

from __future__ import annotations

import numpy as np


def two_clusters(n_sentences: int = 400, length: int = 8, seed: int = 0) -> list[list[str]]:
    """Sentences drawn from one of two 10-token clusters (a0..a9 or b0..b9), never mixed."""
    rng = np.random.default_rng(seed)
    clusters = [[f"a{i}" for i in range(10)], [f"b{i}" for i in range(10)]]
    return [[str(t) for t in rng.choice(clusters[rng.integers(2)], size=length)]
            for _ in range(n_sentences)]


def gender_roles(n_sentences: int = 600, roles: int = 4, seed: int = 1) -> list[list[str]]:
    """Tokens m0..m3 / f0..f3 (gender x role), each seen with two of three context tokens of its
    gender and two of its role: f_k - m_k + m_j = f_j holds by construction."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_sentences):
        gender, role = rng.choice(["m", "f"]), rng.integers(roles)
        words = [f"{gender}{role}"]
        words += [f"{gender}ctx{k}" for k in rng.choice(3, 2, replace=False)]
        words += [f"r{role}ctx{k}" for k in rng.choice(3, 2, replace=False)]
        out.append([str(w) for w in rng.permutation(words)])
    return out


def cluster_purity(vec, k: int = 5) -> float:
    """Share of each token's k nearest neighbours in its own cluster (first letter)."""
    return float(np.mean([[n[0] == t[0] for n, _ in vec.most_similar(t, k=k)] for t in vec.tokens]))


def analogy_hits(vec, roles: int = 4) -> float:
    pairs = [(j, k) for j in range(roles) for k in range(roles) if j != k]
    return float(np.mean([vec.analogy(f"f{k}", f"m{k}", f"m{j}", k=1)[0][0] == f"f{j}"
                          for j, k in pairs]))
