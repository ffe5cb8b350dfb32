"""gpus > 1: the training phase under `accelerate launch`, run here as 2 CPU processes (gloo)
on tiny, against the same run in one process. Values cannot match: each process draws its
own shuffled half of the samples and its own dropout masks, so only the adapter's structure
(keys, shapes) is compared."""

from __future__ import annotations

import json

import pytest
from safetensors import safe_open

from tutor.engine.config import RunConfig
from tutor.engine.events import END_STATUSES, EventWriter, invalid, read_all
from tutor.engine.jobs import SubprocessRunner
from tutor.engine.training.distributed import train_in_processes

pytestmark = pytest.mark.slow

SMALL = dict(device="cpu", num_samples=13, epochs=1, batch_size=2, max_new_tokens=4)  # 5 held out, 8 trained on


def adapter_structure(run_dir) -> dict:
    with safe_open(str(run_dir / "adapter" / "adapter_model.safetensors"), "pt") as weights:
        return {key: tuple(weights.get_slice(key).get_shape()) for key in weights.keys()}


def train(run_dir, **overrides) -> list[dict]:
    handle = SubprocessRunner().start("train", RunConfig(**SMALL, **overrides), run_dir)
    assert handle.wait(timeout=300) == "finished", (run_dir / "run.log").read_text()[-3000:]
    return read_all(run_dir)


def test_two_processes_train_like_one(tmp_path):
    one = train(tmp_path / "one")
    two = train(tmp_path / "two", gpus=2)

    assert [invalid(event) for event in two] == [None] * len(two)
    ends = [e for e in two if e["type"] == "end"]
    assert len(ends) == 1 and two[-1] == ends[0] and ends[0]["status"] in END_STATUSES
    phases = [e["phase"] for e in two if e["type"] == "phase"]
    assert phases == [e["phase"] for e in one if e["type"] == "phase"]
    assert any("accelerate launch: 2 processes" in e.get("message", "") for e in two if e["type"] == "log")

    # 8 samples, 2 per process per step: 2 steps with 2 processes, 4 with one; each logged once.
    progress = [e["step"] for e in two if e["type"] == "progress"]
    assert progress == [1, 2] and [e["step"] for e in one if e["type"] == "progress"] == [1, 2, 3, 4]
    summaries = [e for e in two if e["type"] == "summary"]
    assert len(summaries) == 1 and summaries[0]["global_step"] == 2 and not summaries[0]["cancelled"]

    assert adapter_structure(tmp_path / "two") == adapter_structure(tmp_path / "one")
    config = json.loads((tmp_path / "two" / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == RunConfig().lora_r
    assert [e["stream"] for e in two if e["type"] == "generation"] == ["base", "tuned"]


def test_a_cancel_stops_every_process_at_the_same_step_and_rank_0_saves(tmp_path):
    """The worker's cancel flag is already set: every process must stop after step 1 together
    (one that stopped alone would leave the other waiting in its all-reduce forever)."""
    config = RunConfig(**SMALL, gpus=2)
    summary = train_in_processes(config, tmp_path, EventWriter(tmp_path), should_stop=lambda: True)
    assert summary["cancelled"] and summary["global_step"] == 1
    warnings = [e["message"] for e in read_all(tmp_path) if e["type"] == "warning"]
    assert warnings == ["cancelled at step 1: saving the adapter trained so far"]
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
