"""Jobs take turns through the machine-wide queue: what they ask for, and how they wait."""

from __future__ import annotations

import time

from tutor.engine.admission import job_peak_bytes
from tutor.engine.config import RunConfig
from tutor.engine.events import read_all
from tutor.engine.gpu_queue import GIB
from tutor.engine.jobs import SubprocessRunner


def test_a_7b_lab_run_asks_for_its_estimate_with_headroom():
    train = job_peak_bytes(RunConfig(model="llama-2-7b", batch_size=4, max_length=512), "train")
    answer = job_peak_bytes(RunConfig(model="llama-2-7b"), "generate")
    # The engine's bill for NF4 weights + adapters + checkpointed activations is about 4.6 GiB
    # (measured peak 4.58 GiB, seed-facts section 5); with headroom and the CUDA context:
    assert 5.5 * GIB < train < 7.5 * GIB
    assert 4 * GIB < answer < train
    assert job_peak_bytes(RunConfig(model="someone/not-cached-anywhere"), "train") is None


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_with_one_cpu_slot_the_second_job_waits_its_turn_and_a_queued_job_can_be_cancelled(monkeypatch, tmp_path):
    monkeypatch.setenv("QLORA_TUTOR_CPU_SLOTS", "1")
    config = RunConfig(device="cpu", max_new_tokens=40)
    runner = SubprocessRunner()
    first = runner.start("generate", config, tmp_path / "first")
    wait_for(lambda: any(e["type"] == "queue" and e["admitted"] == [] for e in read_all(first.run_dir)))
    second = runner.start("generate", config, tmp_path / "second")
    # The third starts only once the second holds its ticket, so their places in line are fixed.
    wait_for(lambda: any(e["type"] == "queue" for e in read_all(second.run_dir)))
    third = runner.start("generate", config, tmp_path / "third")
    wait_for(lambda: any(e["type"] == "queue" for e in read_all(third.run_dir)))
    third.cancel()
    assert third.wait(timeout=60) == "cancelled"
    assert any("while waiting for its turn" in e.get("message", "") for e in read_all(third.run_dir))
    assert first.wait(timeout=300) == "finished" and second.wait(timeout=300) == "finished"

    waits = [e for e in read_all(second.run_dir) if e["type"] == "queue"]
    assert waits[0]["admitted"] is None and waits[0]["position"] == 1 and "1 CPU job slot" in waits[0]["reason"]
    assert waits[-1]["admitted"] == []
    first_end = read_all(first.run_dir)[-1]["t"]
    second_start = next(e["t"] for e in read_all(second.run_dir) if e["type"] == "queue" and e["admitted"] == [])
    assert second_start >= first_end - 1.0  # admitted only once the first job's slot was free
