"""What a multi-GPU run asks for before it trains: N GPUs from the queue, accelerate's own
reading of the launch options, and FSDP-QLoRA's wrapping and 4-bit storage dtype on tiny."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from tutor.engine import admission
from tutor.engine.admission import job_peak_bytes, wait_for_turn
from tutor.engine.config import RunConfig
from tutor.engine.errors import LabError
from tutor.engine.gpu_queue import GIB, Gpu, GpuQueue
from tutor.engine.training.distributed import launch_command

FOUR_GPUS = [Gpu(index, 80 * GIB, 80 * GIB) for index in range(4)]


@pytest.fixture
def four_gpu_machine(monkeypatch, tmp_path):
    monkeypatch.setattr(admission, "visible_gpus", lambda cap=None: FOUR_GPUS)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return GpuQueue(tmp_path / "queue", gpus=lambda: FOUR_GPUS)


def test_a_two_gpu_train_job_reserves_two_gpus_and_sees_only_them(four_gpu_machine, monkeypatch):
    events = []
    ticket = wait_for_turn(RunConfig(gpus=2), "train", "run", lambda *a, **k: events.append(k),
                           lambda: False, queue=four_gpu_machine)
    assert ticket.gpus == 2 and len(ticket.admitted) == 2
    assert events[-1]["admitted"] == list(ticket.admitted)
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ",".join(map(str, ticket.admitted))
    answer = wait_for_turn(RunConfig(gpus=2), "generate", "answer", lambda *a, **k: None, lambda: False,
                           queue=four_gpu_machine)
    assert answer.gpus == 1  # answering stays in one process


def test_asking_for_more_gpus_than_the_machine_has_fails_at_once(four_gpu_machine):
    with pytest.raises(LabError, match="gpus = 5, but this machine lets the tutor use 4"):
        wait_for_turn(RunConfig(gpus=5), "train", "run", lambda *a, **k: None, lambda: False,
                      queue=four_gpu_machine)


def test_fsdp_asks_each_gpu_for_its_share_of_the_weights():
    ddp = job_peak_bytes(RunConfig(model="llama-2-7b", gpus=4), "train")
    fsdp = job_peak_bytes(RunConfig(model="llama-2-7b", gpus=4, fsdp=True), "train")
    # 7B in NF4 is about 3.5 GiB of weights; each of 4 GPUs keeps a quarter (plus 10 % reserve).
    assert 2.5 * GIB < ddp - fsdp < 3.5 * GIB


def test_config_checks_the_gpu_count_and_that_fsdp_has_gpus_to_shard_over():
    problems = {e.field: e.message for e in RunConfig(gpus=0, fsdp=True).validate()}
    assert set(problems) == {"gpus", "fsdp"}
    assert RunConfig(gpus=2, fsdp=True).validate() == []


def launch_environment(config: RunConfig) -> dict:
    """The environment accelerate's own launcher gives each process for our command line."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import prepare_multi_gpu_env

    command = launch_command(config, Path("run"), 29511)
    assert command[1:3] == ["-m", "accelerate.commands.launch"] and command[-3:] == [
        "-m", "tutor.engine.training.distributed", "run"]
    args, _, _ = _validate_launch_command(launch_command_parser().parse_args(command[3:]))
    return prepare_multi_gpu_env(args)


def test_the_launch_options_read_back_as_peft_documents_fsdp_qlora():
    env = launch_environment(RunConfig(gpus=2, fsdp=True))
    assert env["ACCELERATE_USE_FSDP"] == "true"
    assert {key: env[key] for key in ("FSDP_SHARDING_STRATEGY", "FSDP_AUTO_WRAP_POLICY", "FSDP_USE_ORIG_PARAMS",
                                      "FSDP_CPU_RAM_EFFICIENT_LOADING", "FSDP_SYNC_MODULE_STATES")} == {
        "FSDP_SHARDING_STRATEGY": "FULL_SHARD", "FSDP_AUTO_WRAP_POLICY": "TRANSFORMER_BASED_WRAP",
        "FSDP_USE_ORIG_PARAMS": "false", "FSDP_CPU_RAM_EFFICIENT_LOADING": "true", "FSDP_SYNC_MODULE_STATES": "true"}
    assert "ACCELERATE_USE_FSDP" not in launch_environment(RunConfig(gpus=2))


@pytest.mark.slow
def test_fsdp_wraps_each_decoder_layer_around_weights_of_one_float_dtype(monkeypatch):
    """FSDP (version 1) flattens each wrapped unit's frozen parameters into one tensor of one
    dtype; stored as uint8, the 4-bit weights could not join the layer's bf16 norms."""
    import torch
    from bitsandbytes.nn import Params4bit
    from peft import get_peft_model
    from peft.utils.other import fsdp_auto_wrap_policy

    from tutor.engine import models
    from tutor.engine.presets import detect_targets
    from tutor.engine.training.train import lora_config

    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")  # what a process of the launch sees
    config = RunConfig(gpus=2, fsdp=True, device="cpu")
    model, _ = models.load_base(config, models.resolve_model("tiny"), "cpu", "bf16", for_training=True)
    model = get_peft_model(model, lora_config(config, detect_targets(model, config.target_module_spec())))

    policy = fsdp_auto_wrap_policy(model)  # what transformers' Trainer installs for a peft model
    wrapped = [module for module in model.modules()
               if policy(module=module, recurse=False, nonwrapped_numel=sum(p.numel() for p in module.parameters()))]
    layers = model.base_model.model.model.layers
    assert Counter(type(m).__name__ for m in wrapped)["LlamaDecoderLayer"] == len(layers)
    trainable = [p for p in model.parameters() if p.requires_grad]
    wrapped_leaves = {id(p) for m in wrapped if not list(m.children()) for p in m.parameters()}
    assert trainable and all(id(p) in wrapped_leaves for p in trainable)  # the adapters: own units

    for layer in layers:
        frozen = [p for p in layer.parameters() if not p.requires_grad]
        assert {p.dtype for p in frozen} == {torch.bfloat16}
        assert any(isinstance(p, Params4bit) for p in frozen)


def test_the_gpu_check_only_runs_fsdp_for_a_model_over_the_cap_whose_share_fits(tmp_path):
    from bench.multigpu_check import fsdp_over_cap

    work = tmp_path / "work"
    work.mkdir()
    roomy = fsdp_over_cap(work, {}, "llama-3.1-8b", 2, "64GiB")  # one GPU would do: no point
    assert "skipped" in roomy and roomy["estimate_fsdp_share_bytes"] < roomy["estimate_one_gpu_bytes"]
    assert "skipped" in fsdp_over_cap(work, {}, "llama-3.1-8b", 2, "2GiB")  # not even the share fits
    assert list(work.iterdir()) == []  # nothing built, nothing trained


def test_a_multi_process_run_the_machine_cannot_do_is_refused_in_one_line():
    from tutor.engine.training.distributed import check_launchable

    with pytest.raises(LabError, match="no CUDA GPU is visible") as no_gpu:
        check_launchable(RunConfig(gpus=2), "cpu")  # device auto fell back to the CPU
    assert "device = cpu" in no_gpu.value.hint
    with pytest.raises(LabError, match="does not run on CPU"):
        check_launchable(RunConfig(gpus=2, fsdp=True, device="cpu"), "cpu")
    check_launchable(RunConfig(gpus=2, device="cpu"), "cpu")  # N CPU processes: allowed
    check_launchable(RunConfig(gpus=2, fsdp=True), "cuda")


def test_cpu_processes_never_see_a_gpu(monkeypatch):
    """device = cpu on a GPU machine runs CPU processes exactly as on a machine without one."""
    from tutor.engine.training.distributed import process_environment

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert process_environment(RunConfig(gpus=2, device="cpu"))["CUDA_VISIBLE_DEVICES"] == ""
    assert process_environment(RunConfig(gpus=2))["CUDA_VISIBLE_DEVICES"] == "0"  # the queue's GPUs
