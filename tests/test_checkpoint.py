"""Checkpoint helpers shared by the CLI commands: the settings key and reuse of a saved fit."""

from __future__ import annotations

from qseq.checkpoint import load_saved, settings_key
from qseq.errors import CheckpointError


def test_settings_key_is_canonical_and_sensitive():
    a = settings_key({"data": "abc", "spec": {"lookback": 64, "model": "gru"}, "seed": 0})
    b = settings_key({"seed": 0, "spec": {"model": "gru", "lookback": 64}, "data": "abc"})
    assert a == b and len(a) == 16
    assert settings_key({"data": "abc", "spec": {"lookback": 32, "model": "gru"}, "seed": 0}) != a


def test_load_saved_reuses_refits_and_reports_unusable(tmp_path):
    calls = []

    def load(path):
        calls.append(path)
        return "fitted"

    assert load_saved(tmp_path / "missing", load, refit=False) == (None, None)
    assert load_saved(tmp_path, load, refit=True) == (None, None)
    assert calls == []  # nothing is read when there is nothing to reuse or --refit is given
    assert load_saved(tmp_path, load, refit=False) == ("fitted", None)

    def broken(path):
        raise CheckpointError(f"{path}/config.json lacks 'spec'")

    obj, why = load_saved(tmp_path, broken, refit=False)
    assert obj is None and "lacks 'spec'" in why


def test_input_files_follow_the_contents_of_the_files_a_config_reads(tmp_path):
    from qseq.checkpoint import input_files
    from qseq.config import ForecastConfig

    assert input_files(ForecastConfig()) == {}
    path = tmp_path / "v.txt"
    path.write_text("AAA 1 2\n")
    config = ForecastConfig(init_embeddings=str(path))
    first = input_files(config)
    assert set(first) == {"init_embeddings"} and len(first["init_embeddings"]) == 64
    assert input_files(config) == first
    path.write_text("AAA 1 3\n")
    assert input_files(config) != first
    path.unlink()
    assert input_files(config) == {"init_embeddings": "missing"}
