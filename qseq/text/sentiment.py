"""Headline sentiment: a word-level GRU classifier trained on a user's labelled headlines, and
a lexicon scorer (VADER) for when no labels exist. Both map headlines to a score in [-1, 1]
that :mod:`qseq.text.news` turns into a causal daily feature per ticker.

    texts, labels = read_labelled("labelled.csv")          # columns text,label
    model = fit_sentiment(texts, labels, SentimentConfig(embed_dim=50),
                          vectors=load_glove("glove.6B.50d.txt"))
    model.predict(["Acme beats estimates"])                 # -> array(['positive'], dtype=object)
    model.score(["Acme beats estimates"])                   # -> array([0.93])
    LexiconScorer().score(["Acme beats estimates"])         # VADER compound, no training

No labelled financial news ships with qseq: bring your own ``text,label`` file.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from qseq.config import POOLINGS, SentimentConfig
from qseq.errors import CheckpointError, ConfigError, DataError, NotFittedError, TrainingError
from qseq.text.lm import seeded

if TYPE_CHECKING:
    from qseq.text.vectors import Vectors

log = logging.getLogger(__name__)
__all__ = ["POOLINGS", "PAD", "UNK", "HeadlineClassifier", "LexiconScorer", "SentimentClassifier",
           "SentimentConfig", "WordVocab", "fit_sentiment", "read_labelled", "tokenize"]

PAD, UNK = "<pad>", "<unk>"  # ids 0 and 1 of every WordVocab
KIND = "headline_sentiment"
_TOKEN_RE = re.compile(r"\d+(?:[.,]\d+)*|[a-z]+(?:'[a-z]+)*|[$%]")


# -- data ---------------------------------------------------------------------------------------
def read_labelled(path: str | os.PathLike[str]) -> tuple[list[str], list[str] | list[int]]:
    """``(texts, labels)`` from a CSV with columns ``text,label`` (other columns are ignored).

    Labels are integers when every label is one (e.g. -1/0/1), else stripped strings. A
    DataError names the file and the missing column, the first row (1-based, after the header)
    with an empty text or label, or a file with fewer than 2 classes.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no labelled file {path}; check the path")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path} as CSV ({str(exc).splitlines()[0]}); "
                        "expected a header 'text,label' then one row per headline") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    for column in ("text", "label"):
        if column not in frame.columns:
            raise DataError(f"{path} has no {column!r} column (found {list(frame.columns)}); "
                            "expected columns text,label")
    texts = frame["text"].str.strip()
    labels = frame["label"].str.strip()
    for name, values in (("text", texts), ("label", labels)):
        empty = np.flatnonzero((values == "").to_numpy())
        if empty.size:
            raise DataError(f"{path}: row {empty[0] + 1} has an empty {name}; fill or drop it")
    out = labels.tolist()
    if labels.str.fullmatch(r"[+-]?\d+").all():
        out = [int(v) for v in out]
    if len(set(out)) < 2:
        raise DataError(f"{path} has {len(set(out))} class(es) {sorted(set(out))}; a classifier "
                        "needs at least 2 labels")
    return texts.tolist(), out


def tokenize(text: str) -> list[str]:
    """Lower-cased words (``don't``, ``apple's`` stay whole), numbers (``5.2``, ``1,000``) and
    the ``$`` and ``%`` signs as their own tokens: ``"Acme up 5% to $12.50"`` ->
    ``['acme', 'up', '5', '%', 'to', '$', '12.50']``."""
    return _TOKEN_RE.findall(text.lower())


def _texts(texts: Iterable[str]) -> list[str]:
    out = list(texts)
    for i, text in enumerate(out):
        if not isinstance(text, str):
            raise DataError(f"text {i} is {type(text).__name__} {text!r}, expected a string")
    return out


@dataclass(frozen=True)
class WordVocab:
    """Word -> id; ``tokens[0]`` is :data:`PAD`, ``tokens[1]`` :data:`UNK` (any word not kept)."""

    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.tokens[:2] != (PAD, UNK) or len(set(self.tokens)) != len(self.tokens):
            raise DataError(f"a vocabulary starts with {PAD!r}, {UNK!r} and has distinct tokens")
        object.__setattr__(self, "_ids", {t: i for i, t in enumerate(self.tokens)})

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1) -> WordVocab:
        """Words seen at least ``min_count`` times in ``texts`` (the training texts only), most
        frequent first, ties alphabetical."""
        counts = Counter(w for text in _texts(texts) for w in tokenize(text))
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls((PAD, UNK, *words))

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, texts: Sequence[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``ids [N, L]`` int64 (right-padded with 0) and ``lengths [N]`` int64, at most
        ``max_len`` words each; a text without words becomes one :data:`UNK`."""
        rows = [[self._ids.get(w, 1) for w in tokenize(t)][:max_len] or [1] for t in _texts(texts)]
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.int64)
        ids = torch.zeros(len(rows), int(lengths.max()) if rows else 1, dtype=torch.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = torch.tensor(row, dtype=torch.int64)
        return ids, lengths


# -- model --------------------------------------------------------------------------------------
class HeadlineClassifier(nn.Module):
    """Embedding -> (bi)GRU over the words (packed: padding never enters the recurrence) ->
    pooling -> linear.

    forward(ids [B, L] int64, lengths [B] int64) -> logits [B, C]. ``mean`` pooling averages
    the GRU outputs ``[B, L, dirs * hidden]`` over the ``lengths[b]`` words; ``last`` takes the
    final state of each direction (the forward one after the last word, the backward one after
    the first).
    """

    def __init__(self, vocab_size: int, n_classes: int, config: SentimentConfig) -> None:
        super().__init__()
        self.config = config
        dirs = 2 if config.bidirectional else 1
        with seeded(config.seed):
            self.embed = nn.Embedding(vocab_size, config.embed_dim, padding_idx=0)
            self.rnn = nn.GRU(config.embed_dim, config.hidden_size, config.num_layers,
                              batch_first=True, bidirectional=config.bidirectional,
                              dropout=config.dropout if config.num_layers > 1 else 0.0)
            self.out = nn.Linear(dirs * config.hidden_size, n_classes)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 2 or lengths.shape != ids.shape[:1]:
            raise DataError(f"expected ids [batch, length] and lengths [batch], got "
                            f"{list(ids.shape)} and {list(lengths.shape)}")
        x = self.drop(self.embed(ids))  # [B, L, E]
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        outputs, h_n = self.rnn(packed)  # h_n [layers * dirs, B, H]
        if self.config.pooling == "last":
            dirs = 2 if self.config.bidirectional else 1
            pooled = torch.cat(list(h_n[-dirs:]), dim=-1)  # [B, dirs * H]
        else:
            padded, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True)  # [B, L', dH]
            pooled = padded.sum(1) / lengths.to(padded.dtype)[:, None]  # pads are zeros
        return self.out(self.drop(pooled))  # [B, C]


# -- fitting and scoring ------------------------------------------------------------------------
def _label(value: object) -> int | str:
    """A class label as JSON can hold it: an integer (numpy ones too) or a string."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise DataError(f"label {value!r} is not an integer or a non-empty string; use labels such "
                    "as positive/negative/neutral or -1/0/1")


def _is_polar(classes: Sequence[object]) -> bool:
    names = {str(c).lower() for c in classes}
    return {"positive", "negative"} <= names


class SentimentClassifier:
    """The fitted headline classifier (sklearn-style: ``fit`` does the work, fitted state ends
    in ``_``). ``classes_`` are the sorted labels; ``predict_proba`` columns follow them.

    Score in [-1, 1] (:meth:`score`): ``P(positive) - P(negative)`` when the labels include
    ``positive`` and ``negative`` (any case; other classes such as ``neutral`` count as 0);
    otherwise the expected position of the class in sorted order scaled to [-1, 1],
    ``2 E[index] / (C - 1) - 1``, which suits ordered integer labels (-1/0/1, 0..4) and is
    arbitrary for unordered string labels.
    """

    def __init__(self, config: SentimentConfig = SentimentConfig()) -> None:
        self.config = config

    def fit(self, texts: Sequence[str], labels: Sequence[object],
            vectors: Vectors | None = None) -> SentimentClassifier:
        """Train on ``texts`` and ``labels`` (same length, at least 2 classes); ``vectors``
        (GloVe format, dim = ``config.embed_dim``) initialise the rows of the words they have.
        Words are looked up lower-cased, as :func:`tokenize` makes them (glove.6B is lower-case;
        a cased file matches only its lower-case entries); ``embedding_coverage_`` is the share
        of vocabulary words found (logged at INFO)."""
        from qseq.runtime import configure_torch_threads

        config = self.config
        texts = _texts(texts)
        labels = [_label(c) for c in labels]
        if len(texts) != len(labels) or not texts:
            raise DataError(f"need as many labels as texts (and at least one), got {len(texts)} "
                            f"texts and {len(labels)} labels")
        classes = sorted(set(labels), key=lambda c: (isinstance(c, str), c))
        if len(classes) < 2:
            raise DataError(f"a classifier needs at least 2 classes, got {classes}")
        if vectors is not None and vectors.dim != config.embed_dim:
            raise ConfigError(f"the word vectors have {vectors.dim} dimensions but embed_dim is "
                              f"{config.embed_dim}; set embed_dim={vectors.dim}")
        configure_torch_threads(adapt=True)
        self.vocab_ = WordVocab.build(texts, config.min_count)
        self.classes_ = tuple(classes)
        self.model_ = HeadlineClassifier(len(self.vocab_), len(classes), config)
        self.embedding_coverage_ = None if vectors is None else self._init_embeddings(vectors)
        self.model_.embed.weight.requires_grad_(not config.freeze_embeddings)
        index = {c: i for i, c in enumerate(classes)}
        targets = torch.tensor([index[c] for c in labels], dtype=torch.int64)
        ids, lengths = self.vocab_.encode(texts, config.max_len)
        self.train_loss_ = self._train(ids, lengths, targets)
        return self

    def _init_embeddings(self, vectors: Vectors) -> float:
        """Copy the rows of the vocabulary words ``vectors`` has; the others are drawn with the
        vectors' standard deviation. Returns (and logs) the share of words found."""
        words = self.vocab_.tokens[2:]
        found = [(i + 2, vectors.index(w)) for i, w in enumerate(words) if w in vectors]
        weight = self.model_.embed.weight
        with torch.no_grad(), seeded(self.config.seed):
            weight.normal_(0.0, float(vectors.matrix.std()) or 1.0)
            weight[0] = 0.0
            if found:
                rows, src = zip(*found, strict=True)
                weight[list(rows)] = torch.from_numpy(vectors.matrix[list(src)])
        coverage = len(found) / max(len(words), 1)
        log.info("word vectors cover %d of %d vocabulary words (%.0f%%)", len(found), len(words),
                 100 * coverage)
        return coverage

    def _train(self, ids: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor) -> list[float]:
        config, model, n = self.config, self.model_, len(targets)
        generator = torch.Generator().manual_seed(config.seed)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        losses = []
        with seeded(config.seed):  # dropout masks
            model.train()
            for epoch in range(1, config.epochs + 1):
                total = 0.0
                for batch in torch.randperm(n, generator=generator).split(config.batch_size):
                    width = int(lengths[batch].max())
                    logits = model(ids[batch, :width], lengths[batch])  # [b, C]
                    loss = nn.functional.cross_entropy(logits, targets[batch])
                    if not torch.isfinite(loss):
                        raise TrainingError(f"loss became {loss.item()} at epoch {epoch}; lower lr")
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    nn.utils.clip_grad_norm_(params, 1.0)
                    opt.step()
                    total += float(loss.detach()) * len(batch)
                losses.append(total / n)
                log.debug("sentiment epoch %d loss %.4f", epoch, total / n)
        model.eval()
        return losses

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("this SentimentClassifier is not fitted; call fit(texts, labels) "
                                 "or SentimentClassifier.load(directory) first")

    @torch.no_grad()
    def predict_proba(self, texts: Sequence[str], batch_size: int = 512) -> np.ndarray:
        """``[N, C]`` float64 class probabilities, columns in the order of ``classes_``."""
        self._check_fitted()
        ids, lengths = self.vocab_.encode(_texts(texts), self.config.max_len)
        self.model_.eval()
        parts = [torch.softmax(self.model_(ids[b], lengths[b]).double(), dim=-1)
                 for b in torch.arange(len(ids)).split(batch_size)]
        if not parts:
            return np.zeros((0, len(self.classes_)))
        return torch.cat(parts).numpy()

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """``[N]`` the most probable label of each text (int64 or object array, like the labels)."""
        proba = self.predict_proba(texts)
        dtype = np.int64 if all(isinstance(c, int) for c in self.classes_) else object
        return np.asarray(self.classes_, dtype=dtype)[proba.argmax(axis=1)]

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """``[N]`` float64 sentiment in [-1, 1] (see the class docstring for the rule)."""
        proba = self.predict_proba(texts)
        names = [str(c).lower() for c in self.classes_]
        if _is_polar(self.classes_):
            return proba[:, names.index("positive")] - proba[:, names.index("negative")]
        position = np.arange(len(names)) * (2.0 / (len(names) - 1)) - 1.0  # [C] in [-1, 1]
        return proba @ position

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``model.safetensors`` + ``config.json`` (config, vocabulary, classes)."""
        from qseq import __version__
        from qseq.checkpoint import save_checkpoint

        self._check_fitted()
        return save_checkpoint(directory, self.model_, {
            "qseq_version": __version__, "kind": KIND, "config": asdict(self.config),
            "vocab": list(self.vocab_.tokens), "classes": list(self.classes_),
            "embedding_coverage": self.embedding_coverage_, "train_loss": self.train_loss_})

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> SentimentClassifier:
        """Rebuild a saved classifier and load its weights strictly (nothing is unpickled)."""
        from qseq.checkpoint import config_fields, load_weights, read_config

        saved: dict[str, Any] = read_config(directory)
        if saved.get("kind") != KIND:
            raise CheckpointError(f"{directory} holds a {saved.get('kind')!r} checkpoint, not a "
                                  "headline sentiment classifier")
        with config_fields(directory, "re-train the sentiment classifier"):
            self = cls(SentimentConfig(**saved["config"]))
            try:
                self.vocab_ = WordVocab(tuple(saved["vocab"]))
            except DataError as exc:
                raise CheckpointError(f"{directory}/config.json: {exc}") from None
            self.classes_ = tuple(saved["classes"])
            self.embedding_coverage_ = saved["embedding_coverage"]
            self.train_loss_ = list(saved["train_loss"])
            model = HeadlineClassifier(len(self.vocab_), len(self.classes_), self.config)
        self.model_ = load_weights(directory, model, saved).eval()
        return self


def fit_sentiment(texts: Sequence[str], labels: Sequence[object],
                  config: SentimentConfig = SentimentConfig(),
                  vectors: Vectors | None = None) -> SentimentClassifier:
    """``SentimentClassifier(config).fit(texts, labels, vectors)``."""
    return SentimentClassifier(config).fit(texts, labels, vectors)


class LexiconScorer:
    """VADER (Hutto and Gilbert, 2014; MIT licence): a rule-based scorer with a general-purpose
    English lexicon (social-media tuned, not finance-specific), for headlines without labels.
    The lexicon ships inside the ``vaderSentiment`` wheel: no network, no training."""

    def __init__(self) -> None:
        self._analyzer = None

    def score(self, texts: Iterable[str]) -> np.ndarray:
        """``[N]`` float64: VADER's compound score of each text, in [-1, 1]."""
        if self._analyzer is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            self._analyzer = SentimentIntensityAnalyzer()
        polarity = self._analyzer.polarity_scores
        return np.array([polarity(t)["compound"] for t in _texts(texts)], dtype=np.float64)
