"""Character-level RNNs: vocabulary, shapes, padding invariance, determinism, known answers for
the classifier and the generator, sampling rules, checkpoints, baselines and bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from qseq.errors import CheckpointError, ConfigError, DataError
from qseq.text.chars import (
    BOS,
    EOS,
    PAD,
    SPECIALS,
    UNK,
    CharClassifier,
    CharLM,
    CharRNNConfig,
    CharVocab,
    FittedCharClassifier,
    FittedCharGenerator,
    fit_char_classifier,
    fit_char_generator,
    majority_baseline,
    names_by_sector,
    ngram_logistic_baseline,
    stratified_folds,
    stratified_split,
)

SMALL = CharRNNConfig(embed_dim=8, hidden_size=16, dropout=0.0, epochs=3, batch_size=8)


def first_letter_names(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Random strings that start with 'a' (class A) or 'b' (class B), then 2..6 of 'c'..'h'."""
    rng = np.random.default_rng(seed)
    names, labels = [], []
    for i in range(n):
        head = "ab"[i % 2]
        tail = "".join(rng.choice(list("cdefgh"), size=rng.integers(2, 7)))
        names.append(head + tail)
        labels.append(head.upper())
    return names, labels


@pytest.fixture(scope="module")
def learned() -> FittedCharClassifier:
    names, labels = first_letter_names(96, seed=0)
    config = CharRNNConfig(embed_dim=8, hidden_size=24, dropout=0.0, epochs=25, batch_size=16,
                           lr=1e-2, seed=0)
    return fit_char_classifier(names, labels, config)


def test_vocab_roundtrip_and_batches():
    vocab = CharVocab.build(["Apple Inc.", "Abbott"])
    assert vocab.chars == tuple(sorted(set("Apple Inc.Abbott")))
    assert len(vocab) == len(SPECIALS) + len(vocab.chars)
    assert vocab.decode(vocab.encode("Apple")) == "Apple"
    assert vocab.encode("Z")[0] == UNK and vocab.decode(vocab.encode("Zob")) == "\ufffdob"
    assert vocab.decode([BOS, *vocab.encode("pl"), EOS, *vocab.encode("t")]) == "pl"
    assert CharVocab.from_dict(vocab.to_dict()) == vocab
    ids, lengths = vocab.batch(["Abb", "A"], bos=True, eos=True)
    assert ids.shape == (2, 5) and lengths.tolist() == [5, 3]
    assert ids[1].tolist() == [BOS, vocab.encode("A")[0], EOS, PAD, PAD]


def test_shapes():
    clf = CharClassifier(12, 3, CharRNNConfig(embed_dim=4, hidden_size=8, bidirectional=True))
    ids = torch.randint(4, 12, (5, 7))
    assert clf.eval()(ids, torch.tensor([7, 3, 1, 5, 2])).shape == (5, 3)
    lm = CharLM(12, 3, CharRNNConfig(embed_dim=4, hidden_size=8, cell="lstm", num_layers=2))
    assert lm(ids, torch.tensor([0, 1, 2, 0, 1])).shape == (5, 7, 12)
    logits, state = lm.start(ids[:, :3], torch.zeros(5, dtype=torch.int64))
    assert logits.shape == (5, 12) and [s.shape for s in state] == [(5, 2, 8), (5, 2, 8), (5,)]
    assert lm.step(state, ids[:, 3])[0].shape == (5, 12)


@pytest.mark.parametrize("cell,bidirectional", [("gru", False), ("lstm", True)])
def test_padding_does_not_change_a_name_logits(cell, bidirectional):
    vocab = CharVocab.build(["abcdefgh"])
    config = CharRNNConfig(embed_dim=4, hidden_size=8, cell=cell, bidirectional=bidirectional,
                           num_layers=2)
    model = CharClassifier(len(vocab), 3, config, seed=1).eval()
    alone = model(*vocab.batch(["abc"], bos=True))
    batched = model(*vocab.batch(["abcdefgh", "abc", "hgfedcbahgfe"], bos=True))
    torch.testing.assert_close(batched[1:2], alone, atol=1e-6, rtol=1e-5)


def test_same_seed_same_model_other_seed_other_model():
    names, labels = first_letter_names(24, seed=1)
    config = CharRNNConfig(embed_dim=8, hidden_size=16, dropout=0.3, epochs=2, batch_size=8)
    a = fit_char_classifier(names, labels, config).logits(names)
    b = fit_char_classifier(names, labels, config).logits(names)
    c = fit_char_classifier(names, labels, CharRNNConfig(**{**config.__dict__, "seed": 1})).logits(names)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    gen = [fit_char_generator(names, config, labels=labels).sample(4, label="A", seed=3)
           for _ in range(2)]
    assert gen[0] == gen[1]


def test_classifier_learns_the_first_letter(learned):
    names, labels = first_letter_names(40, seed=7)  # unseen names
    assert np.mean(learned.predict(names) == np.array(labels, dtype=object)) >= 0.95
    proba = learned.predict_proba(names)
    assert proba.shape == (40, 2) and np.allclose(proba.sum(1), 1.0) and learned.classes == ("A", "B")


def test_balanced_training_offsets_the_training_logits_only():
    names, labels = ["ab", "ac", "ad", "ba"], ["A", "A", "A", "B"]
    fit = fit_char_classifier(names, labels, CharRNNConfig(**{**SMALL.__dict__, "balanced": True}))
    assert torch.allclose(fit.model.train_offset, torch.log(torch.tensor([0.75, 0.25])))
    eval_logits = fit.logits(names)
    fit.model.train()
    with torch.no_grad():
        train_logits = fit.model(*fit.vocab.batch(names, bos=True)).numpy()
    assert np.allclose(train_logits - eval_logits, np.log([0.75, 0.25]), atol=1e-6)


def test_generator_learns_a_name_per_class():
    names, labels = ["abcd", "wxyz"] * 8, ["x", "y"] * 8
    config = CharRNNConfig(embed_dim=8, hidden_size=32, dropout=0.0, epochs=40, batch_size=16, lr=1e-2)
    gen = fit_char_generator(names, config, labels=labels)
    assert gen.sample(3, temperature=0, label="x") == ["abcd"] * 3
    assert gen.sample(3, temperature=0, label="y") == ["wxyz"] * 3
    assert gen.copy_share(gen.sample(20, temperature=0.5, label="y", seed=2)) == 1.0
    assert gen.copy_share(["abcd", "abce"]) == 0.5
    right = gen.bits_per_char(["abcd", "wxyz"], ["x", "y"])
    assert right < 0.2 < gen.bits_per_char(["abcd", "wxyz"], ["y", "x"])
    plain = fit_char_generator(names, config)
    assert plain.sample(1, temperature=0)[0] in {"abcd", "wxyz"}
    with pytest.raises(ConfigError, match="no classes"):
        plain.sample(1, label="x")


def _greedy(gen: FittedCharGenerator, prefix: str, label: int, max_len: int) -> str:
    """Argmax decoding by re-running the whole sequence at every step (no state reuse)."""
    ids = [BOS, *gen.vocab.encode(prefix)]
    with torch.no_grad():
        while len(ids) - 1 < max_len:
            logits = gen.model(torch.tensor([ids]), torch.tensor([label]))[0, -1]
            logits[[PAD, BOS, UNK]] = -torch.inf
            token = int(logits.argmax())
            if token == EOS:
                break
            ids.append(token)
    return gen.vocab.decode(ids)


@pytest.fixture(scope="module")
def small_generator() -> FittedCharGenerator:
    names = ["Apple Inc.", "Amgen", "Exxon Mobil", "Entergy Corp.", "Bank of America", "Boeing"]
    labels = ["tech", "health", "energy", "energy", "fin", "ind"]
    return fit_char_generator(names, SMALL, labels=labels)


def test_samples_use_vocab_chars_and_respect_prefix_and_max_len(small_generator):
    gen = small_generator
    samples = gen.sample(50, temperature=2.0, prefix="Ex", label="energy", max_len=7, seed=0)
    assert len(samples) == 50 and len(set(samples)) > 1
    assert all(s.startswith("Ex") and len(s) <= 7 for s in samples)
    assert set("".join(samples)) <= set(gen.vocab.chars)


def test_zero_temperature_is_the_argmax_string(small_generator):
    gen = small_generator
    expected = _greedy(gen, "B", gen.classes.index("fin"), 12)
    assert gen.sample(3, temperature=0, prefix="B", label="fin", max_len=12) == [expected] * 3
    assert gen.sample(2, temperature=1e-4, prefix="B", label="fin", max_len=12, seed=5) == [expected] * 2


def test_save_load_gives_identical_outputs(tmp_path, learned, small_generator):
    names = ["abc", "bcd", "zz"]
    learned.save(tmp_path / "clf")
    loaded = FittedCharClassifier.load(tmp_path / "clf")
    assert np.array_equal(loaded.logits(names), learned.logits(names))
    assert loaded.classes == learned.classes and loaded.config == learned.config
    small_generator.save(tmp_path / "gen")
    gen = FittedCharGenerator.load(tmp_path / "gen")
    assert gen.sample(5, label="tech", seed=4) == small_generator.sample(5, label="tech", seed=4)
    assert gen.train_names == small_generator.train_names
    with pytest.raises(CheckpointError, match="char_classifier"):
        FittedCharGenerator.load(tmp_path / "clf")


def test_bad_input_gives_clear_errors(small_generator):
    with pytest.raises(DataError, match="no names given"):
        fit_char_classifier([], [], SMALL)
    with pytest.raises(ConfigError, match=r"unknown cell 'rnn'; choose one of \['gru', 'lstm'\]"):
        CharRNNConfig(cell="rnn")
    with pytest.raises(ConfigError, match="dropout"):
        CharRNNConfig(dropout=1.0)
    with pytest.raises(ConfigError, match="epochs"):
        CharRNNConfig(epochs=0)
    with pytest.raises(DataError, match="got 2 names but 1 labels"):
        fit_char_classifier(["a", "b"], ["x"], SMALL)
    with pytest.raises(DataError, match="at least two classes"):
        fit_char_classifier(["a", "b"], ["x", "x"], SMALL)
    with pytest.raises(DataError, match="not a string"):
        fit_char_classifier(["a", float("nan")], ["x", "y"], SMALL)
    with pytest.raises(DataError, match="not in training"):
        fit_char_classifier(["a", "b"], ["x", "y"], SMALL, val=(["c"], ["z"]))
    with pytest.raises(ConfigError, match="bidirectional=False"):
        fit_char_generator(["a", "b"], CharRNNConfig(bidirectional=True))
    with pytest.raises(ConfigError, match=r"pass label\(s\) from \[.energy., .fin."):
        small_generator.sample(2)
    with pytest.raises(DataError, match="never seen in training"):
        small_generator.sample(2, prefix="Q", label="fin")
    with pytest.raises(ConfigError, match="max_len"):
        small_generator.sample(2, prefix="Bank", label="fin", max_len=4)


def test_baselines_known_answers():
    assert majority_baseline(["x", "y", "y"], 2).tolist() == ["y", "y"]
    assert majority_baseline(["y", "x"], 1).tolist() == ["x"]  # tie: the first sorted
    train = ["First Bank", "Bank Corp", "City Bank", "Sun Energy", "Energy Inc", "Gulf Energy"] * 2
    labels = ["fin"] * 3 + ["energy"] * 3
    pred = ngram_logistic_baseline(train, labels * 2, ["Lake Bank", "Moon Energy"], C=10.0)
    assert pred.tolist() == ["fin", "energy"]


def test_names_by_sector_and_stratified_splits():
    names, sectors = names_by_sector()
    assert len(names) == len(sectors) == len(set(names)) and len(set(sectors)) == 10
    table = pd.DataFrame({"name": ["A", "A", "B", None], "sector": ["x", "y", None, "z"]})
    assert names_by_sector(table) == (["A"], ["x"])
    folds = stratified_folds(sectors, n_splits=5, seed=0)
    tests = np.sort(np.concatenate([te for _, te in folds]))
    assert np.array_equal(tests, np.arange(len(names)))
    share = pd.Series(sectors).value_counts(normalize=True)
    for train, test in folds:
        assert not set(train) & set(test)
        fold_share = pd.Series(sectors).iloc[test].value_counts(normalize=True)
        assert (fold_share.reindex(share.index).fillna(0) - share).abs().max() < 0.03
    train, test = stratified_split(sectors, test_size=0.2, seed=0)
    assert len(test) == math.ceil(0.2 * len(names)) and np.array_equal(
        train, stratified_split(sectors, test_size=0.2, seed=0)[0])
    with pytest.raises(DataError, match="fewer than 5 members"):
        stratified_folds(["a"] * 10 + ["b"] * 3, n_splits=5)
