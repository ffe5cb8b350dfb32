"""Export and generate faults: a full or read-only disk, and an adapter for another base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_export import saved_adapter  # noqa: F401  (the fixture: a random small Llama + an r = 4 adapter)

from tutor.cli import main
from tutor.engine.export import export_merged, plan_export
from tutor.engine.models import adapter_model_name, resolve_model


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_a_disk_that_fills_mid_save_leaves_nothing_and_a_rerun_works(saved_adapter, tmp_path, monkeypatch, capsys):
    out = tmp_path / "merged"
    monkeypatch.setenv("QLORA_TUTOR_FAULT", "ENOSPC@export")
    assert main(["export", "--adapter", str(saved_adapter), "--output", str(out)]) == 2
    assert "the disk is full; nothing was left in" in one_line(capsys)
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    monkeypatch.delenv("QLORA_TUTOR_FAULT")
    export_merged(plan_export(saved_adapter, out))
    assert (out / "config.json").exists() and (out / "model.safetensors").exists()


def test_a_read_only_target_is_refused_before_loading(saved_adapter, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("tutor.engine.export.os.access", lambda path, mode: False)  # root passes chmod
    assert main(["export", "--adapter", str(saved_adapter), "--output", str(tmp_path / "out")]) == 2
    assert f"cannot write to {tmp_path} (read-only or not yours)" in one_line(capsys)


def test_an_adapter_for_another_base_is_one_line(saved_adapter, tmp_path, capsys):
    from transformers import AutoModelForCausalLM, LlamaConfig

    other = tmp_path / "other-base"
    AutoModelForCausalLM.from_config(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                                 num_attention_heads=4, num_key_value_heads=2,
                                                 vocab_size=256)).save_pretrained(other)
    config_file = saved_adapter / "adapter_config.json"
    config_file.write_text(json.dumps(dict(json.loads(config_file.read_text()), base_model_name_or_path=str(other))))
    assert main(["export", "--adapter", str(saved_adapter), "--output", str(tmp_path / "out")]) == 2
    assert "does not fit" in one_line(capsys) and not (tmp_path / "out").exists()


@pytest.fixture
def tiny_adapter(tmp_path) -> Path:
    """An adapter folder whose config names the tiny model as its base (enough for the checks)."""
    folder = tmp_path / "adapter"
    folder.mkdir()
    base = resolve_model("tiny").location
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base}))
    return folder


def test_generate_refuses_an_adapter_for_another_model(tiny_adapter, capsys, tutor_home):
    assert main(["generate", "--model", "bloomz-560m", "--adapter", str(tiny_adapter)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"qlora-tutor: the adapter in {tiny_adapter} was trained on tiny, not on bloomz-560m\n")
    assert "Traceback" not in err and not (tutor_home / "runs").exists()


def test_generate_records_the_adapters_own_base(tiny_adapter):
    assert adapter_model_name(tiny_adapter, None) == "tiny"
    assert adapter_model_name(tiny_adapter, "tiny") == "tiny"
