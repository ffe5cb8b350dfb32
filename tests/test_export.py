"""`qlora-tutor export`: clear refusals before anything loads, and a merge that keeps the logits."""

from __future__ import annotations

from collections import namedtuple
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.engine import export
from tutor.engine.anatomy import LoraSettings, wrap_with_lora
from tutor.engine.export import ExportError, export_merged, plan_export


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


@pytest.fixture
def saved_adapter(tmp_path: Path) -> Path:
    """A small random Llama saved as a base folder, plus an r = 4 adapter with nonzero B."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=256)
    base_dir = tmp_path / "base"
    AutoModelForCausalLM.from_config(config).save_pretrained(base_dir)
    model = wrap_with_lora(AutoModelForCausalLM.from_pretrained(base_dir), LoraSettings(rank=4, alpha=8))
    for name, param in model.named_parameters():
        if ".lora_B." in name:
            torch.nn.init.normal_(param, std=0.5)
    model.save_pretrained(tmp_path / "adapter")
    return tmp_path / "adapter"


def test_missing_adapter_is_refused_in_one_line(tmp_path, capsys):
    code = main(["export", "--adapter", str(tmp_path / "nope"), "--output", str(tmp_path / "out")])
    err = one_line_error(capsys)
    assert code == 2
    assert "no adapter in" in err and "adapter_config.json" in err and "lab-train" in err
    assert not (tmp_path / "out").exists()


def test_non_empty_output_is_refused(saved_adapter, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("keep me")
    code = main(["export", "--adapter", str(saved_adapter), "--output", str(tmp_path / "taken")])
    assert code == 2 and "already exists and is not empty" in one_line_error(capsys)


def test_too_little_disk_is_refused_with_numbers(saved_adapter, tmp_path, monkeypatch):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(export.shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(ExportError, match=r"not enough disk .* needs 224.3 KB, .* has 1.0 KB free"):
        plan_export(saved_adapter, tmp_path / "out")


def test_too_little_memory_is_refused(saved_adapter, tmp_path, monkeypatch):
    import psutil

    Memory = namedtuple("Memory", "available")
    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory(1000))
    with pytest.raises(ExportError, match="not enough memory to merge"):
        plan_export(saved_adapter, tmp_path / "out")


def test_export_writes_a_16bit_model_with_the_adapter_merged(saved_adapter, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    plan = plan_export(saved_adapter, tmp_path / "merged")
    assert plan.base_params == sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(plan.base).parameters())
    export_merged(plan)

    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged")
    assert merged.dtype == torch.bfloat16
    assert not any("lora" in name for name, _ in merged.named_parameters())
    unmerged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(plan.base), saved_adapter)
    probe = torch.arange(1, 17).unsqueeze(0)
    with torch.no_grad():
        tuned = unmerged(probe).logits
        difference = (merged(probe).logits.float() - tuned).abs().max().item()
        with unmerged.disable_adapter():
            adapter_effect = (unmerged(probe).logits - tuned).abs().max().item()
    assert difference < 0.05  # bf16 rounding of the merged weights
    assert adapter_effect > 10 * difference  # ... far below what the adapter changes
