"""`qlora-tutor fetch`: what it would download, the disk check, and one line when it cannot."""

from __future__ import annotations

import pytest

from tutor.cli import main
from tutor.engine.fetch import FetchError, Plan, check_disk, choose_files, hub_id


def test_presets_map_to_hub_ids_and_tiny_needs_nothing():
    assert hub_id("bloom-7b1") == "bigscience/bloom-7b1"
    assert hub_id("someone/model") == "someone/model"
    with pytest.raises(FetchError, match="built by the tutor"):
        hub_id("tiny")


def test_safetensors_are_taken_instead_of_bin_files_with_config_and_tokenizer():
    siblings = [("config.json", 700), ("model-00001.safetensors", 5_000), ("model-00002.safetensors", 4_000),
                ("pytorch_model.bin", 9_000), ("tokenizer.json", 300), ("README.md", 50), ("onnx/model.onnx", 9)]
    files, total = choose_files(siblings)
    assert sorted(files) == ["config.json", "model-00001.safetensors", "model-00002.safetensors", "tokenizer.json"]
    assert total == 10_000
    files, total = choose_files([("config.json", 1), ("pytorch_model.bin", 9)])
    assert files == ["config.json", "pytorch_model.bin"] and total == 10


def test_the_disk_check_refuses_what_does_not_fit(tmp_path):
    needed, free = check_disk([Plan("a/b", ("x",), 1000)], tmp_path / "not-yet" / "hub")
    assert needed == 1000 and free > 0
    with pytest.raises(FetchError, match="free disk"):
        check_disk([Plan("a/b", ("x",), 10**18)], tmp_path)


def test_offline_fetch_says_so_in_one_line(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["fetch", "bloomz-560m", "--yes"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("qlora-tutor: cannot reach the Hugging Face Hub for bigscience/bloomz-560m")
    assert err.count("\n") == 1 and "Traceback" not in err
