"""The run planner: pinned against this project's measured GPU peaks, and its verdicts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.engine.planner import GPUS, TOLERANCE, PlanError, PlanSettings, committed_checks, plan

RESULTS_DIR = Path(__file__).resolve().parents[1] / "bench" / "results"


def lab_run_peaks() -> list[tuple[str, int]]:
    """The lab's own runs on the H100 (bench/results/h100-2026-11-23.json): packed, batch 8 x
    256, r 16, alpha 16, 8-bit AdamW; peak from each run's summary event."""
    runs = json.loads((RESULTS_DIR / "h100-2026-11-23.json").read_text())["lab_runs"]
    presets = {"llama2-7b": "llama-2-7b", "bloomz-560m": "bloomz-560m"}
    return [(presets[name], next(e["peak_gpu_bytes"] for e in events if e["type"] == "summary"))
            for name, events in runs.items()]


def test_planner_is_within_15_percent_of_the_committed_benchmark_peaks():
    checks = committed_checks()
    assert {c.label.split(",")[0] for c in checks} == {"llama-2-7b", "bloomz-560m"}
    for check in checks:
        assert check.within, f"{check.label}: {check.peak_error:+.1%}"


@pytest.mark.parametrize("model, peak", lab_run_peaks())
def test_planner_is_within_15_percent_of_the_lab_runs_on_the_gpu(model, peak):
    predicted = plan(PlanSettings(model=model, gpu="h100", rank=16, alpha=16, batch_size=8, max_length=256))
    assert abs(predicted.peak / peak - 1) <= TOLERANCE, f"{predicted.peak / 1e9:.2f} GB vs {peak / 1e9:.2f} GB"


def test_adapter_size_and_trainable_count_match_the_lecture():
    """Llama-3.1-8B, r 32 on q, k, v, o: 27,262,976 parameters, 109,051,904 bytes (seed facts 4)."""
    predicted = plan(PlanSettings(model="llama-3.1-8b", rank=32, alpha=64))
    assert predicted.trainable == 27_262_976 and predicted.adapter_file_bytes == 109_051_904


def test_memory_grows_with_batch_and_length_and_without_checkpointing():
    small = plan(PlanSettings(model="qwen3-1.7b", batch_size=1, max_length=256))
    assert plan(PlanSettings(model="qwen3-1.7b", batch_size=4, max_length=256)).peak > small.peak
    assert plan(PlanSettings(model="qwen3-1.7b", batch_size=1, max_length=1024)).peak > small.peak
    no_ckpt = plan(PlanSettings(model="qwen3-1.7b", batch_size=1, max_length=256, gradient_checkpointing=False))
    assert no_ckpt.bill["activations"] > 5 * small.bill["activations"]


def test_verdicts_on_a_t4():
    assert plan(PlanSettings(model="qwen3-8b", gpu="t4")).fits
    too_big = plan(PlanSettings(model="qwen3-8b", gpu="t4", batch_size=16, max_length=4096,
                                gradient_checkpointing=False))
    assert not too_big.fits and too_big.needed > GPUS["t4"].memory_bytes


def test_speed_estimate_scales_compute_with_the_gpu_and_names_its_measurement():
    h200 = plan(PlanSettings(model="llama-3.2-3b", gpu="h200"))
    t4 = plan(PlanSettings(model="llama-3.2-3b", gpu="t4"))
    assert t4.speed.host_s == pytest.approx(h200.speed.host_s)  # the host is the CPU's, not the GPU's
    assert t4.speed.compute_s == pytest.approx(h200.speed.compute_s * 989 / 65)
    assert t4.tokens_per_s < h200.tokens_per_s
    assert "plan-check-h200-2026-12-02.json" in t4.speed.basis and "65/989" in t4.speed.basis
    assert "final3_7b" in plan(PlanSettings(model="llama-3.2-3b", gpu="h100")).speed.basis


def test_bad_settings_raise_plan_errors():
    with pytest.raises(PlanError, match="unknown GPU"):
        plan(PlanSettings(model="tiny", gpu="v100"))
    with pytest.raises(PlanError, match="rank must be 1 or more"):
        plan(PlanSettings(model="tiny", rank=0))


def test_plan_command_prints_the_bill_and_one_line_errors(capsys):
    assert main(["plan", "--model", "qwen3-0.6b", "--gpu", "l4"]) == 0
    out = capsys.readouterr().out
    assert "qwen3-0.6b on L4 24 GB" in out and "fits:" in out and "tokens/s" in out
    assert main(["plan", "--model", "no-such-model", "--gpu", "l4"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_measure_on_a_cpu_compares_the_planner_with_the_committed_gpu_runs(capsys, monkeypatch):
    """On a CPU, whatever the machine: on a GPU, --measure trains the plan instead."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["plan", "--model", "tiny", "--gpu", "t4", "--measure"]) == 0
    out = capsys.readouterr().out
    assert "No CUDA GPU here" in out and "llama-2-7b" in out and "bloomz-560m" in out


def tiny_lora_params(rank: int) -> int:
    """q, k, v, o of every tiny layer: r x (in + out) each (tiny's k and v are as wide as q)."""
    from tutor.engine.presets import PRESETS

    config = PRESETS["tiny"].config
    return config["num_hidden_layers"] * 4 * rank * 2 * config["hidden_size"]


def test_measurement_runs_the_labs_trainer_for_real(tmp_path):
    """A CPU smoke run of what --measure does on a GPU: tiny, two steps."""
    from tutor.engine.training.plan_measure import measure

    result = measure(PlanSettings(model="tiny", rank=4, batch_size=1, max_length=16, optimizer="adamw_torch"),
                     steps=2, log=lambda _: None)
    assert result["steps"] == 2 and result["tokens_per_s"] > 0 and result["trainable"] == tiny_lora_params(4)


def test_a_config_without_weights_is_measured_with_random_weights_built_once(tmp_path, monkeypatch):
    from transformers import AutoConfig

    monkeypatch.setenv("QLORA_TUTOR_MODELS", str(tmp_path / "models"))
    from tutor.engine.training.plan_measure import weights_folder

    AutoConfig.for_model("llama", vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2).save_pretrained(tmp_path / "mine")
    lines: list[str] = []
    folder = weights_folder(str(tmp_path / "mine"), log=lines.append)
    assert (folder / "config.json").exists() and any(folder.glob("*.safetensors")) and len(lines) == 1
    assert weights_folder(str(tmp_path / "mine"), log=lines.append) == folder and len(lines) == 1
    assert weights_folder(str(folder)) == folder  # a folder with weights is used as it is


@pytest.mark.parametrize("device, kind", [("NVIDIA H200", "h200"), ("NVIDIA H100 80GB HBM3", "h100"),
                                          ("Tesla T4", "t4"), ("NVIDIA L40S", "this")])
def test_this_gpu_keeps_its_kinds_speed_fit_when_its_name_is_listed(monkeypatch, device, kind):
    import types

    import torch

    from tutor.engine.planner import find_gpu

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda index: types.SimpleNamespace(name=device, total_memory=48e9))
    gpu = find_gpu("this")
    assert gpu.key == kind and gpu.label == f"{device} (this machine)" and gpu.memory_bytes == 48e9
    assert gpu.datasheet == (kind != "this")


def test_an_installed_copy_plans_from_the_measurements_it_ships(tmp_path):
    """`pip install .` (the README's way) copies the package without bench/: the planner must
    read the runs it ships in tutor/data/measurements, never the checkout's folders."""
    repo = Path(__file__).resolve().parents[1]
    target = tmp_path / "site"
    # Built offline with the setuptools torch brings: a machine without a package index (the
    # lent GPU machine) could not fetch an isolated build's.
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-build-isolation",
                    "--target", str(target), str(repo)], check=True, capture_output=True, timeout=600)
    probe = ("import tutor; from tutor.engine.planner import PlanSettings, plan, references; "
             "print(tutor.__file__); print(len(references()), plan(PlanSettings(model='qwen3-8b', gpu='t4')).fits)")
    # The dependencies' folders stay on the path (there, packages installed with --target); the checkout goes.
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != repo]
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(target), *inherited]),
                               "QLORA_TUTOR_HOME": str(tmp_path / "home")})
    assert done.returncode == 0, done.stderr
    where, counts = done.stdout.splitlines()
    assert where.startswith(str(target)) and counts == "2 True"


def test_the_headroom_takes_the_step_graphs_larger_reserve():
    """The step graph's own memory pool raised reserved over allocated from 1.26 (eager, H100) to
    1.35 (Qwen2-1.5B shape, H200), and 1.41 once cuBLAS's workspaces are freed before capture
    (allocated fell, reserved did not): the headroom of every plan is taken from the largest."""
    from tutor.engine.memory import required_bytes
    from tutor.engine.planner import plan, references, reserved_ratio

    refs = references()
    eager = max(reference.peak_reserved_ratio for reference in refs)
    assert round(eager, 2) == 1.26 and round(reserved_ratio(refs), 2) == 1.41
    result = plan(PlanSettings(model="llama-2-7b", gpu="t4", batch_size=4, max_length=512))
    assert result.headroom == pytest.approx(required_bytes(result.peak, reserve=reserved_ratio(refs) - 1) - result.peak)
