"""init_embeddings: ticker vectors from a GloVe-format file start the ticker embeddings of the
forecaster and the anomaly detector (every ensemble member), with clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import qseq
from qseq.errors import ConfigError, DataError
from qseq.models.base import TickerEmbedding

TINY = qseq.TrainConfig(epochs=1, lr=1e-12, batch_size=256)  # training leaves the start as it was


def _write(path, rows: dict[str, list[float]]) -> str:
    path.write_text("".join(f"{t} {' '.join(map(str, v))}\n" for t, v in rows.items()))
    return str(path)


def _tables(model):
    return [m.embedding.weight.detach() for m in model.modules() if isinstance(m, TickerEmbedding)]


def test_forecaster_members_start_from_the_file(two_stocks, tmp_path):
    tickers = sorted(set(two_stocks.index.get_level_values("ticker")))
    vec = {tickers[0]: [0.5, -1.0, 2.0, 0.25]}
    path = _write(tmp_path / "v.txt", {**vec, "ZZZ": [1, 1, 1, 1]})
    f = qseq.Forecaster("gru", lookback=16, horizons=2, hidden_size=8, num_layers=1, ticker_dim=4,
                        ensemble=2, init_embeddings=path, train=TINY, device="cpu").fit(two_stocks)
    tables = _tables(f.model_)
    assert len(tables) == 2  # both members
    i = f.tickers_.index(tickers[0])
    for table in tables:
        assert torch.allclose(table[i], torch.tensor(vec[tickers[0]]), atol=1e-5)
    other = 1 - i  # no vector in the file: the members' own random starts, not the file's
    assert not torch.allclose(tables[0][other], tables[1][other])


def test_detector_starts_from_the_file(two_stocks, tmp_path):
    tickers = sorted(set(two_stocks.index.get_level_values("ticker")))
    path = _write(tmp_path / "v.txt", {t: [float(k)] * 3 for k, t in enumerate(tickers, 1)})
    det = qseq.AnomalyDetector(lookback=12, hidden_size=8, ticker_dim=3, init_embeddings=path,
                               train=TINY, device="cpu").fit(two_stocks)
    table = _tables(det.model_)[0]
    for t in tickers:
        assert np.allclose(table[det.tickers_.index(t)].numpy(), tickers.index(t) + 1, atol=1e-5)


def test_bad_files_and_shapes_name_the_fix(two_stocks, spx_small, tmp_path):
    tickers = sorted(set(two_stocks.index.get_level_values("ticker")))
    wrong_dim = _write(tmp_path / "d.txt", {tickers[0]: [1.0, 2.0]})
    with pytest.raises(ConfigError, match="2-dimensional vectors .* set ticker_dim to 2"):
        qseq.Forecaster("gru", lookback=16, horizons=1, ticker_dim=4, init_embeddings=wrong_dim,
                        train=TINY, device="cpu").fit(two_stocks)
    none = _write(tmp_path / "n.txt", {"AAA": [1.0] * 4})
    with pytest.raises(ConfigError, match="vectors for none of the 2 tickers"):
        qseq.Forecaster("gru", lookback=16, horizons=1, ticker_dim=4, init_embeddings=none,
                        train=TINY, device="cpu").fit(two_stocks)
    with pytest.raises(ConfigError, match="needs a panel of several tickers"):
        qseq.Forecaster("gru", lookback=16, horizons=1, ticker_dim=4, init_embeddings=none,
                        train=TINY, device="cpu").fit(spx_small)
    ragged = tmp_path / "r.txt"
    ragged.write_text(f"{tickers[0]} 1 2 3 4\n{tickers[1]} 1 2\n")
    with pytest.raises(DataError, match=r"r\.txt:2: 2 values, expected 4"):
        qseq.Forecaster("gru", lookback=16, horizons=1, ticker_dim=4, init_embeddings=str(ragged),
                        train=TINY, device="cpu").fit(two_stocks)
    huge = _write(tmp_path / "h.txt", {tickers[0]: [1.6e8, 0.0, 1.0, 2.0]})
    with pytest.raises(ConfigError, match=f"the vector of {tickers[0]} has non-finite or huge"):
        qseq.Forecaster("gru", lookback=16, horizons=1, ticker_dim=4, init_embeddings=huge,
                        train=TINY, device="cpu").fit(two_stocks)
