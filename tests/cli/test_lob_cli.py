"""``qseq lob``: inspect and train end to end on small synthetic books and LOBSTER files; user
mistakes give one line."""

from __future__ import annotations

import pytest

from qseq.lob.lobster_write import write_lobster
from qseq.lob.synthetic import simulate

from ._helpers import one_line_error as _one_line_error
from ._helpers import run


def test_inspect_a_lobster_file_writes_the_page(capsys, tmp_path):
    messages, book = simulate(3000, levels=5, seed=0)
    msg_path, _ = write_lobster(tmp_path, messages, book, ticker="SYNTH")
    code, out, err = run(capsys, "lob", "inspect", str(msg_path), "--levels", "5",
                         "--out", str(tmp_path / "rep"))
    assert code == 0, err
    assert "SYNTHETIC" in out and "3000" in out and "crossed_rows" in out
    pages = list((tmp_path / "rep").glob("lob_*.html"))
    assert len(pages) == 1 and "plotly" in pages[0].read_text().lower()


def test_synth_writes_labelled_lobster_files(capsys, tmp_path):
    code, out, err = run(capsys, "lob", "synth", "--events", "500", "--levels", "3",
                         "--out", str(tmp_path))
    assert code == 0, err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert len(names) == 3 and any(n.endswith("_synthetic.json") for n in names)
    assert "SYNTHETIC" in out
    code, _, err = run(capsys, "lob", "synth", "--events", "5", "--ticker", "../x",
                       "--out", str(tmp_path))
    assert code != 0 and "invalid ticker" in _one_line_error(err)


def test_train_on_a_synthetic_book_with_blocks(capsys, tmp_path):
    code, out, err = run(capsys, "lob", "train", "--synthetic", "6000", "--levels", "3",
                         "--model", "gru", "--lookback", "10", "--k", "5,20", "--epochs", "1",
                         "--hidden-size", "8", "--blocks", "2", "--device", "cpu",
                         "--out", str(tmp_path))
    assert code == 0, err
    assert "SYNTHETIC" in out and "logistic_imbalance" in out and "majority" in out
    assert "2 blocks" in out and "diff_vs_baseline" in out
    flat = " ".join(out.split())
    for what in ("test split", "2 test blocks together"):
        for k in (5, 20):
            assert f"confusion, {what}, k={k}, model:" in flat
    assert "true stationary" in flat and "pred up" in flat
    (page,) = tmp_path.glob("lob_*_gru.html")
    text = page.read_text()
    assert "confusion, test blocks together" in text and "true stationary" in text
    ckpt = next((tmp_path / "checkpoints").iterdir())
    assert (ckpt / "model.safetensors").is_file() and (ckpt / "config.json").is_file()


@pytest.mark.parametrize(("args", "message"), [
    (["lob", "train", "--synthetic", "1000", "--bitstamp-sample"], "give one order-book source"),
    (["lob", "train"], "give one order-book source"),
    (["lob", "train", "--synthetic", "1000", "--model", "lstm_ae"], "'lstm_ae' is not one of"),
    (["lob", "train", "--synthetic", "1000", "--blocks", "1"], "--blocks must be 0"),
    (["lob", "train", "--synthetic", "1000", "--k", "0"], "horizon"),
    (["lob", "inspect", "missing_message_10.csv"], "missing_message_10.csv"),
    (["lob", "inspect", "--trades", "t.csv", "--synthetic", "10"], "--trades needs --level3"),
])
def test_user_mistakes_give_one_line(capsys, args, message):
    code, _, err = run(capsys, *args)
    assert code != 0
    assert message in _one_line_error(err)
