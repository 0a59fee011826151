"""Atomic writes (qseq._io): published files get the mode of any new file (0666 less the umask),
whoever created the temporary file; a checkpoint's two files share it."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from qseq._io import atomic_write_text, atomic_write_with, current_umask
from qseq.checkpoint import CONFIG, WEIGHTS, save_checkpoint


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o022, 0o027, 0o077], ids=["022", "027", "077"])
def umask(request):
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def test_current_umask_follows_os_umask(umask):
    assert current_umask() == umask


def test_checkpoint_weights_and_config_have_the_same_umask_mode(tmp_path, umask):
    save_checkpoint(tmp_path / "ckpt", torch.nn.Linear(3, 2), {"note": "x"})
    weights, config = _mode(tmp_path / "ckpt" / WEIGHTS), _mode(tmp_path / "ckpt" / CONFIG)
    assert weights == config == 0o666 & ~umask


def test_a_writer_that_replaces_the_file_does_not_leak_its_mode(tmp_path, umask):
    def private_writer(tmp):  # like safetensors: a new file with its own (private) mode
        tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"data")
        os.close(fd)

    atomic_write_with(tmp_path / "a.bin", private_writer)
    atomic_write_text(tmp_path / "b.txt", "text")
    assert _mode(tmp_path / "a.bin") == _mode(tmp_path / "b.txt") == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "b.txt"]  # no temp files left
