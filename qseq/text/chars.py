"""Character-level RNNs over short strings such as company names: a classifier (name -> class),
a generator (sample new names, optionally of a given class), the baselines they must beat and
the bundled names -> sectors data.

    names, sectors = names_by_sector()                        # 496 S&P 500 names, 10 sectors
    train, test = stratified_split(sectors, test_size=0.2, seed=0)      # index arrays
    clf = fit_char_classifier([names[i] for i in train], [sectors[i] for i in train])
    clf.predict(["Exxon Mobil"]), clf.predict_proba(["Exxon Mobil"])    # [N] labels, [N, C]
    gen = fit_char_generator(names, labels=sectors)
    gen.sample(5, temperature=0.8, label="Energy")            # five new names
    clf.save("clf/"); FittedCharClassifier.load("clf/")       # safetensors + JSON

A string is a row of :class:`CharVocab` ids, padded with PAD to a batch ``[batch, time]``. The
classifier reads ``BOS name`` and classifies the last real (non-pad) state of its top layer
(packed sequences, so padding changes nothing); the generator is a character LM trained on
``BOS name EOS``, with a class embedding concatenated to every input when it is conditioned.
Training is :func:`qseq.text.lm.fit_token_model` and sampling :func:`qseq.text.lm.sample_paths`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from qseq.config import CharRNNConfig
from qseq.errors import CheckpointError, ConfigError, DataError
from qseq.text.lm import (
    TokenTrainLog,
    cross_entropy,
    fit_token_model,
    sample_paths,
    seeded,
)

__all__ = ["SPECIALS", "CharVocab", "CharRNNConfig", "CharClassifier", "CharLM",
           "FittedCharClassifier", "FittedCharGenerator", "fit_char_classifier",
           "fit_char_generator", "ngram_logistic_baseline", "majority_baseline", "names_by_sector",
           "stratified_split", "stratified_folds"]

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(len(SPECIALS))
UNKNOWN_CHAR = "\N{REPLACEMENT CHARACTER}"  # how decode shows UNK


def _check_names(names: Sequence[str], what: str = "names") -> list[str]:
    names = list(names)
    if not names:
        raise DataError(f"no {what} given; pass a non-empty list of strings")
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise DataError(f"{what}[{i}] is {name!r} ({type(name).__name__}), not a string; "
                            "drop rows without a name")
    return names


def _check_labels(labels: Sequence[Any], n: int, what: str = "labels") -> list[Any]:
    labels = [x.item() if isinstance(x, np.generic) else x for x in labels]
    if len(labels) != n:
        raise DataError(f"got {n} names but {len(labels)} {what}; pass one label per name")
    if any(x is None or (isinstance(x, float) and math.isnan(x)) for x in labels):
        raise DataError(f"{what} hold a missing value; drop the names without a label")
    return labels


@dataclass(frozen=True)
class CharVocab:
    """Character ids: 0..3 are ``SPECIALS`` (PAD, BOS, EOS, UNK), then ``chars`` in order.
    Build it from the training strings only (:meth:`build`); other characters encode as UNK."""

    chars: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chars = tuple(self.chars)
        if any(not isinstance(c, str) or len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise DataError("a CharVocab needs distinct single characters")
        object.__setattr__(self, "chars", chars)
        object.__setattr__(self, "_index", {c: i + len(SPECIALS) for i, c in enumerate(chars)})

    @classmethod
    def build(cls, strings: Sequence[str]) -> CharVocab:
        """The sorted characters of ``strings``."""
        return cls(tuple(sorted(set("".join(_check_names(strings, "strings"))))))

    def __len__(self) -> int:
        return len(SPECIALS) + len(self.chars)

    def __contains__(self, char: object) -> bool:
        return char in self._index

    def encode(self, text: str) -> list[int]:
        """One id per character of ``text`` (UNK for a character not in the vocabulary)."""
        return [self._index.get(c, UNK) for c in text]

    def decode(self, ids: Sequence[int]) -> str:
        """The characters of ``ids`` up to the first EOS; PAD and BOS are skipped, UNK shows as
        U+FFFD."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i >= len(SPECIALS):
                out.append(self.chars[i - len(SPECIALS)])
            elif i == UNK:
                out.append(UNKNOWN_CHAR)
        return "".join(out)

    def batch(self, names: Sequence[str], *, bos: bool = False, eos: bool = False,
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded ids [batch, time] (int64, PAD after each string) and lengths [batch]."""
        rows = [[BOS] * bos + self.encode(s) + [EOS] * eos for s in _check_names(names)]
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.int64)
        ids = torch.full((len(rows), max(1, int(lengths.max()))), PAD, dtype=torch.int64)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = torch.tensor(row, dtype=torch.int64)
        return ids, lengths

    def to_dict(self) -> dict[str, list[str]]:
        return {"chars": list(self.chars)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharVocab:
        return cls(tuple(data["chars"]))


def _rnn(config: CharRNNConfig, input_size: int, bidirectional: bool) -> nn.Module:
    rnn = nn.GRU if config.cell == "gru" else nn.LSTM
    return rnn(input_size, config.hidden_size, config.num_layers, batch_first=True,
               bidirectional=bidirectional,
               dropout=config.dropout if config.num_layers > 1 else 0.0)


class CharClassifier(nn.Module):
    """Embedding -> GRU/LSTM -> the top layer's state at each string's last real character
    (both directions when bidirectional) -> linear.

    forward(ids [B, T] int64, lengths [B]) -> logits [B, C]. Padding after ``lengths`` is never
    read. In training mode ``train_offset`` [C] (the log class prior when balanced, else 0) is
    added to the logits."""

    def __init__(self, vocab_size: int, n_classes: int, config: CharRNNConfig, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config
        directions = 2 if config.bidirectional else 1
        with seeded(seed):
            self.embed = nn.Embedding(vocab_size, config.embed_dim, padding_idx=PAD)
            self.rnn = _rnn(config, config.embed_dim, config.bidirectional)
            self.out = nn.Linear(directions * config.hidden_size, n_classes)
        self.drop = nn.Dropout(config.dropout)
        self.register_buffer("train_offset", torch.zeros(n_classes))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if ids.dim() != 2 or lengths.shape != ids.shape[:1]:
            raise DataError(f"expected ids [batch, time] and lengths [batch], got "
                            f"{list(ids.shape)} and {list(lengths.shape)}")
        x = self.drop(self.embed(ids))  # [B, T, E]
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, hidden = self.rnn(packed)
        h = hidden if self.config.cell == "gru" else hidden[0]  # [layers * dirs, B, H]
        directions = 2 if self.config.bidirectional else 1
        last = h[-directions:].transpose(0, 1).reshape(len(ids), -1)  # [B, dirs * H]
        logits = self.out(self.drop(last))  # [B, C]
        return logits + self.train_offset if self.training else logits


class CharLM(nn.Module):
    """Character LM: embedding (+ class embedding [label_dim] at every step when ``n_classes``
    > 0) -> GRU/LSTM -> linear. forward(ids [B, T], labels [B] | None) -> logits [B, T, V],
    ``logits[:, t]`` predicting ``ids[:, t + 1]``.

    It speaks :mod:`qseq.text.lm`'s step protocol (``start(context [B, T], labels)``,
    ``step(state, token [B])``); a state is the batch-first hidden tensors [B, layers, H]
    (h, or h and c), then the labels [B] when conditioned."""

    def __init__(self, vocab_size: int, n_classes: int, config: CharRNNConfig, *, seed: int = 0) -> None:
        super().__init__()
        if config.bidirectional:
            raise ConfigError("a generator reads left to right; set bidirectional=False")
        self.config = config
        with seeded(seed):
            self.embed = nn.Embedding(vocab_size, config.embed_dim, padding_idx=PAD)
            self.label_embed = nn.Embedding(n_classes, config.label_dim) if n_classes else None
            width = config.embed_dim + (config.label_dim if n_classes else 0)
            self.rnn = _rnn(config, width, False)
            self.out = nn.Linear(config.hidden_size, vocab_size)
        self.drop = nn.Dropout(config.dropout)

    def run(self, ids: torch.Tensor, labels: torch.Tensor | None, state: tuple[torch.Tensor, ...] | None
            ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        if (labels is None) != (self.label_embed is None):
            raise DataError("this generator is conditioned on a class: pass labels [batch]"
                            if labels is None else "this generator has no classes; pass labels=None")
        x = self.embed(ids)  # [B, T, E]
        if labels is not None:
            x = torch.cat([x, self.label_embed(labels)[:, None].expand(-1, ids.shape[1], -1)], -1)
        hidden = None
        if state is not None:  # batch-first [B, layers, H] -> torch's [layers, B, H]
            parts = tuple(s.transpose(0, 1).contiguous() for s in state)
            hidden = parts[0] if self.config.cell == "gru" else parts
        y, hidden = self.rnn(self.drop(x), hidden)  # y [B, T, H]
        parts = (hidden,) if self.config.cell == "gru" else hidden
        return self.out(self.drop(y)), tuple(s.transpose(0, 1) for s in parts)

    def forward(self, ids: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.run(ids, labels, None)[0]

    def start(self, context: torch.Tensor, labels: torch.Tensor | None = None
              ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        logits, state = self.run(context, labels, None)
        return logits[:, -1], state + (() if labels is None else (labels,))

    def step(self, state: tuple[torch.Tensor, ...], token: torch.Tensor
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        cond = self.label_embed is not None
        labels = state[-1] if cond else None
        logits, hidden = self.run(token[:, None], labels, state[:-1] if cond else state)
        return logits[:, -1], hidden + (() if labels is None else (labels,))


class _OneClass(nn.Module):
    """A :class:`CharLM` with its class fixed, for :func:`qseq.text.lm.sample_paths`."""

    def __init__(self, lm: CharLM, label: int | None) -> None:
        super().__init__()
        self.lm, self.label = lm, label

    def start(self, context: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        labels = None if self.label is None else torch.full((len(context),), self.label)
        return self.lm.start(context, labels)

    def step(self, state: tuple[torch.Tensor, ...], token: torch.Tensor
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        return self.lm.step(state, token)


# -- fitted models --------------------------------------------------------------------------------
def _classes(labels: list[Any]) -> tuple[Any, ...]:
    try:
        return tuple(sorted(set(labels)))
    except TypeError:
        raise DataError("labels must be all strings or all numbers") from None


def _class_ids(labels: Sequence[Any], n: int, classes: tuple[Any, ...], what: str) -> torch.Tensor:
    """Ids [n] of ``labels`` in ``classes``; a DataError names labels unseen in training."""
    labels = _check_labels(labels, n, what)
    index = {c: i for i, c in enumerate(classes)}
    unseen = sorted({str(x) for x in labels if x not in index})
    if unseen:
        raise DataError(f"{what} hold labels not in training: {unseen[:5]}; known: {list(classes)}")
    return torch.tensor([index[x] for x in labels], dtype=torch.int64)


@dataclass(eq=False)
class _Fitted:
    """A trained model with its vocabulary, sorted ``classes``, config and training log; saved
    as ``model.safetensors`` + ``config.json`` (config, vocabulary, classes, ``extra`` fields)."""

    model: nn.Module
    vocab: CharVocab
    classes: tuple[Any, ...]
    config: CharRNNConfig
    history: TokenTrainLog = field(default_factory=TokenTrainLog)
    kind: ClassVar[str] = ""
    module: ClassVar[type[nn.Module]]
    extra: ClassVar[tuple[str, ...]] = ()  # names of further fields saved, as lists

    def save(self, directory: str | Path) -> Path:
        from qseq.checkpoint import save_checkpoint

        return save_checkpoint(directory, self.model, {
            "kind": self.kind, "config": asdict(self.config), "vocab": self.vocab.to_dict(),
            "classes": list(self.classes), **{k: list(getattr(self, k)) for k in self.extra}})

    @classmethod
    def load(cls, directory: str | Path) -> Any:
        """The model saved by :meth:`save`; it gives the same outputs as the saved one."""
        from qseq.checkpoint import config_fields, load_weights, read_config

        saved = read_config(directory)
        if saved.get("kind") != cls.kind:
            raise CheckpointError(f"{directory} holds a {saved.get('kind')!r} checkpoint, not "
                                  f"{cls.kind!r}; load it with the matching class")
        with config_fields(directory, f"re-train the {cls.kind.replace('_', ' ')}"):
            config, vocab = CharRNNConfig(**saved["config"]), CharVocab.from_dict(saved["vocab"])
            classes = tuple(saved["classes"])
            model = cls.module(len(vocab), len(classes), config)
            extra = {k: tuple(saved[k]) for k in cls.extra}
        return cls(load_weights(directory, model, saved).eval(), vocab, classes, config, **extra)


@dataclass(eq=False)
class FittedCharClassifier(_Fitted):
    """A trained :class:`CharClassifier`; columns of its outputs follow ``classes``."""

    kind: ClassVar[str] = "char_classifier"
    module: ClassVar[type[nn.Module]] = CharClassifier

    @torch.no_grad()
    def logits(self, names: Sequence[str], batch_size: int = 1024) -> np.ndarray:
        """Logits [N, C] of ``names``."""
        self.model.eval()
        ids, lengths = self.vocab.batch(names, bos=True)
        return torch.cat([self.model(ids[b], lengths[b]) for b in
                          torch.arange(len(ids)).split(batch_size)]).numpy()

    def predict_proba(self, names: Sequence[str]) -> np.ndarray:
        """Class probabilities [N, C]."""
        return torch.softmax(torch.from_numpy(self.logits(names)).double(), -1).numpy()

    def predict(self, names: Sequence[str]) -> np.ndarray:
        """The most probable class of each name [N]."""
        return np.asarray(self.classes, dtype=object)[self.logits(names).argmax(1)]


@dataclass(eq=False)
class FittedCharGenerator(_Fitted):
    """A trained :class:`CharLM` (``classes`` empty: unconditioned) and its ``train_names``, to
    tell copies from new strings."""

    train_names: tuple[str, ...] = ()
    kind: ClassVar[str] = "char_generator"
    module: ClassVar[type[nn.Module]] = CharLM
    extra: ClassVar[tuple[str, ...]] = ("train_names",)

    def _label_ids(self, labels: Sequence[Any] | None, n: int) -> torch.Tensor | None:
        if (labels is None) != (not self.classes):
            raise ConfigError(f"pass label(s) from {list(self.classes)} to this conditioned generator"
                              if self.classes else "this generator has no classes; pass no label")
        return None if labels is None else _class_ids(labels, n, self.classes, "labels")

    def sample(self, n: int, temperature: float = 1.0, *, prefix: str = "", label: Any = None,
               max_len: int = 40, seed: int = 0) -> list[str]:
        """``n`` strings drawn character by character from ``softmax(logits / temperature)``
        (0: the argmax, so all n are the same) until EOS or ``max_len`` characters in all.
        Each starts with ``prefix``; ``label`` (one of ``classes``) is required by a
        conditioned generator and refused by an unconditioned one. Seeded by ``seed``."""
        label_ids = self._label_ids(None if label is None else [label], 1)
        unknown = sorted({c for c in prefix if c not in self.vocab})
        if unknown:
            raise DataError(f"prefix {prefix!r} has characters never seen in training: {unknown}")
        if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len <= len(prefix):
            raise ConfigError(f"max_len must be an integer above len(prefix) = {len(prefix)}, "
                              f"got {max_len!r}")
        fixed = _OneClass(self.model, None if label_ids is None else int(label_ids[0]))
        context = torch.tensor([[BOS] + self.vocab.encode(prefix)], dtype=torch.int64)  # [1, 1 + P]
        paths = sample_paths(fixed, context, max_len - len(prefix), n, temperature=temperature,
                             banned=(PAD, BOS, UNK), seed=seed)  # [1, n, max_len - P]
        return [prefix + self.vocab.decode(row) for row in paths[0].tolist()]

    def bits_per_char(self, names: Sequence[str], labels: Sequence[Any] | None = None) -> float:
        """Mean cross-entropy of ``names`` in bits per character (EOS counted as one), read with
        ``labels`` [N] by a conditioned generator; lower is better."""
        names = _check_names(names)
        inputs, targets = _lm_examples(self.vocab, names, self._label_ids(labels, len(names)))
        return cross_entropy(self.model, inputs, targets, ignore_index=PAD) / math.log(2)

    def copy_share(self, samples: Sequence[str]) -> float:
        """Share of ``samples`` that are exactly a training name."""
        known = set(self.train_names)
        return float(np.mean([s in known for s in samples])) if len(samples) else 0.0


def fit_char_classifier(names: Sequence[str], labels: Sequence[Any],
                        config: CharRNNConfig | None = None, *,
                        val: tuple[Sequence[str], Sequence[Any]] | None = None) -> FittedCharClassifier:
    """Train a :class:`CharClassifier` on ``names`` [N] -> ``labels`` [N] (at least two
    classes). ``val`` = (names, labels) for early stopping on its loss; without it all epochs
    run. Deterministic for a given ``config.seed``."""
    config = config or CharRNNConfig()
    names = _check_names(names)
    classes = _classes(_check_labels(labels, len(names)))
    if len(classes) < 2:
        raise DataError(f"need at least two classes to classify, got {list(classes)}")
    vocab = CharVocab.build(names)
    y = _class_ids(labels, len(names), classes, "labels")
    model = CharClassifier(len(vocab), len(classes), config, seed=config.seed)
    if config.balanced:
        model.train_offset.copy_(torch.log(torch.bincount(y, minlength=len(classes)) / len(y)))
    val_data = None
    if val is not None:
        val_names = _check_names(val[0], "validation names")
        val_data = (vocab.batch(val_names, bos=True),
                    _class_ids(val[1], len(val_names), classes, "validation labels"))
    history = fit_token_model(model, vocab.batch(names, bos=True), y, config.train_config(),
                              val=val_data)
    return FittedCharClassifier(model.eval(), vocab, classes, config, history)


def _lm_examples(vocab: CharVocab, names: list[str], y: torch.Tensor | None
                 ) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    ids, _ = vocab.batch(names, bos=True, eos=True)  # BOS name EOS PAD...
    inputs = (ids[:, :-1],) if y is None else (ids[:, :-1], y)
    return inputs, ids[:, 1:]  # targets: name EOS PAD... (PAD ignored)


def fit_char_generator(names: Sequence[str], config: CharRNNConfig | None = None, *,
                       labels: Sequence[Any] | None = None,
                       val: tuple[Sequence[str], Sequence[Any] | None] | None = None,
                       ) -> FittedCharGenerator:
    """Train a :class:`CharLM` on ``names`` (cross-entropy per character, EOS included),
    conditioned on ``labels`` [N] when given. ``val`` = (names, labels or None) for early
    stopping on its loss. Deterministic for a given ``config.seed``."""
    config = config or CharRNNConfig()
    names = _check_names(names)
    vocab = CharVocab.build(names)
    classes = () if labels is None else _classes(_check_labels(labels, len(names)))
    model = CharLM(len(vocab), len(classes), config, seed=config.seed)
    fit = FittedCharGenerator(model, vocab, classes, config, train_names=tuple(names))
    val_data = None
    if val is not None:
        val_names = _check_names(val[0], "validation names")
        val_data = _lm_examples(vocab, val_names, fit._label_ids(val[1], len(val_names)))
    inputs, targets = _lm_examples(vocab, names, fit._label_ids(labels, len(names)))
    fit.history = fit_token_model(model, inputs, targets, config.train_config(), val=val_data,
                                  ignore_index=PAD)
    model.eval()
    return fit


# -- baselines and data ---------------------------------------------------------------------------
def majority_baseline(train_labels: Sequence[Any], n: int) -> np.ndarray:
    """``n`` copies of the most frequent training label (ties: the first in sorted order)."""
    counts = Counter(_check_labels(train_labels, len(train_labels)))
    if not counts:
        raise DataError("no training labels given")
    top = max(counts.values())
    return np.asarray([min(c for c, k in counts.items() if k == top)] * n, dtype=object)


def ngram_logistic_baseline(train_names: Sequence[str], train_labels: Sequence[Any],
                            test_names: Sequence[str], *, ngram_range: tuple[int, int] = (1, 4),
                            C: float | None = None, seed: int = 0) -> np.ndarray:
    """Predicted labels [N_test] of a multinomial logistic regression on TF-IDF character
    n-grams within word boundaries (``char_wb``, lowercased, sublinear tf). ``C``: the inverse
    L2 strength; None picks it from (0.3, 1, 3, 10, 30, 100) by stratified 3-fold CV accuracy
    on the training names only."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    train_names = _check_names(train_names, "training names")
    labels = np.asarray(_check_labels(train_labels, len(train_names)), dtype=object)
    pipe = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range,
                                         sublinear_tf=True),
                         LogisticRegression(C=C or 1.0, max_iter=5000))
    if C is None:
        folds = StratifiedKFold(3, shuffle=True, random_state=seed)
        pipe = GridSearchCV(pipe, {"logisticregression__C": [0.3, 1.0, 3.0, 10.0, 30.0, 100.0]},
                            cv=folds)
    return pipe.fit(train_names, labels).predict(_check_names(test_names, "test names"))


def names_by_sector(table: Any = None) -> tuple[list[str], list[str]]:
    """Company names and their sectors from the bundled sector table (or ``table``, a frame with
    columns name and sector). Rows without a name or sector are dropped, and so are repeated
    names (the first row is kept), so a name cannot sit on both sides of a split."""
    if table is None:
        from qseq.data.bundled import load_sectors

        table = load_sectors()
    missing = {"name", "sector"} - set(table.columns)
    if missing:
        raise DataError(f"the sector table lacks columns {sorted(missing)}; it needs name and sector")
    rows = table.dropna(subset=["name", "sector"]).drop_duplicates("name")
    return rows["name"].astype(str).tolist(), rows["sector"].astype(str).tolist()


def _check_strata(labels: Sequence[Any], least: int) -> np.ndarray:
    labels = np.asarray(_check_labels(labels, len(labels)), dtype=object)
    small = {str(c): k for c, k in Counter(labels.tolist()).items() if k < least}
    if small:
        raise DataError(f"classes with fewer than {least} members cannot be stratified: {small}; "
                        "merge or drop them")
    return labels


def stratified_split(labels: Sequence[Any], *, test_size: float = 0.2, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices, each class split in proportion (sklearn, seeded)."""
    from sklearn.model_selection import train_test_split

    labels = _check_strata(labels, 2)
    train, test = train_test_split(np.arange(len(labels)), test_size=test_size, random_state=seed,
                                   stratify=labels)
    return np.sort(train), np.sort(test)


def stratified_folds(labels: Sequence[Any], *, n_splits: int = 5, seed: int = 0
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) row indices of stratified k-fold CV, shuffled with ``seed``; every row is
    in exactly one test fold."""
    from sklearn.model_selection import StratifiedKFold

    labels = _check_strata(labels, n_splits)
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    return list(folds.split(np.zeros(len(labels)), labels))
