"""Signals and a full disk at a step and during the save: the adapter is whole or absent, and the
events say which."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tutor.engine.config import RunConfig
from tutor.engine.events import RunStatus, read_all
from tutor.engine.jobs import SubprocessRunner

REPO = Path(__file__).resolve().parents[2]

SAVE_UNDER_SIGNAL = """
import os, signal, sys
from pathlib import Path
from tutor.engine import worker
from tutor.engine.events import EventWriter
from tutor.storage import staged_folder

run_dir, sig = Path(sys.argv[1]), getattr(signal, sys.argv[2])
events, cancel = EventWriter(run_dir), worker.CancelFlag()
worker._install_signal_handlers(run_dir, events, cancel)
with staged_folder(run_dir / "adapter") as staging:
    (staging / "adapter_config.json").write_text("{}")
    os.kill(os.getpid(), sig)  # lands in the middle of the save
    (staging / "adapter_model.safetensors").write_bytes(bytes(1000))
os.kill(os.getpid(), signal.SIGTERM)  # after the save: stop at once
"""


def save_under(signal_name: str, run_dir: Path) -> int:
    run_dir.mkdir()
    return subprocess.run([sys.executable, "-c", SAVE_UNDER_SIGNAL, str(run_dir), signal_name], cwd=REPO,
                          timeout=60).returncode


def test_sigterm_during_the_save_lets_it_finish_then_says_the_adapter_is_complete(tmp_path):
    run_dir = tmp_path / "run"
    assert save_under("SIGTERM", run_dir) == 143
    assert sorted(p.name for p in (run_dir / "adapter").iterdir()) == ["adapter_config.json",
                                                                       "adapter_model.safetensors"]
    events = read_all(run_dir)
    assert [e["type"] for e in events] == ["log", "warning", "end"]
    assert "was saved before and is complete" in events[1]["message"] and events[2]["status"] == "cancelled"
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []


def test_sigkill_during_the_save_leaves_no_adapter_folder(tmp_path):
    run_dir = tmp_path / "run"
    assert save_under("SIGKILL", run_dir) == -signal.SIGKILL
    assert not (run_dir / "adapter").exists()  # only a hidden staging folder, removed by the next save
    from tutor.storage import staged_folder

    with staged_folder(run_dir / "adapter") as staging:
        (staging / "adapter_config.json").write_text("{}")
    assert sorted(p.name for p in run_dir.iterdir()) == ["adapter", "events.jsonl"]


def wait_for_step(handle, step: int) -> None:
    tail, seen = handle.tail(), 0
    deadline = time.monotonic() + 300
    while seen < step:
        assert time.monotonic() < deadline and handle.is_running(), (handle.run_dir / "run.log").read_text()[-2000:]
        seen = max([seen] + [e["step"] for e in tail.read() if e["type"] == "progress"])
        time.sleep(0.1)


@pytest.mark.slow
def test_sigterm_at_a_step_stops_at_once_and_claims_no_adapter(tmp_path):
    handle = SubprocessRunner().start("train", RunConfig(epochs=50, device="cpu"), tmp_path / "run")
    wait_for_step(handle, 2)
    os.killpg(handle.pid, signal.SIGTERM)
    assert handle.wait(timeout=60) is RunStatus.CANCELLED
    events = read_all(handle.run_dir)
    warning = [e["message"] for e in events if e["type"] == "warning"][-1]
    assert warning.startswith("terminated: stopped at once; nothing was saved")
    assert not any(e["type"] == "summary" for e in events)
    assert not (handle.run_dir / "adapter").exists()
    assert [p.name for p in handle.run_dir.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_a_disk_that_fills_during_the_save_is_reported_as_full(tmp_path, monkeypatch):
    monkeypatch.setenv("QLORA_TUTOR_FAULT", "ENOSPC@adapter")
    config = RunConfig(epochs=1, num_samples=8, eval_fraction=0.0, max_new_tokens=5, device="cpu")
    handle = SubprocessRunner().start("train", config, tmp_path / "run")
    assert handle.wait(timeout=300) is RunStatus.FAILED
    error = next(e for e in read_all(handle.run_dir) if e["type"] == "error")
    assert error["message"] == f"cannot write {handle.run_dir / 'adapter'}: the disk is full" and "Free some space" in error["hint"]
    assert not (handle.run_dir / "adapter").exists()
    assert [p.name for p in handle.run_dir.iterdir() if p.name.startswith(".")] == []


def test_a_disk_too_full_for_any_event_ends_the_worker_with_one_line(tmp_path):
    from tutor.engine.jobs import CONFIG_FILE, write_job

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    RunConfig().save(run_dir / CONFIG_FILE)
    write_job(run_dir, {"kind": "train", "started_at": time.time()})
    result = subprocess.run([sys.executable, "-m", "tutor.engine.worker", str(run_dir)], cwd=REPO, timeout=120,
                            capture_output=True, text=True, env=dict(os.environ, QLORA_TUTOR_FAULT="ENOSPC@events"))
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (f"cannot write the events: cannot write {run_dir / 'events.jsonl'}: "
                                              "the disk is full")
    assert read_all(run_dir) == [] and not (run_dir / "adapter").exists()


def test_saved_folders_and_files_get_the_umasks_permissions_not_private_temp_ones(tmp_path):
    """An instructor or a shared group reads what learners save: a staged folder or an atomic
    file keeps the permissions a plain mkdir or open would give, not mkdtemp's 0700 or 0600."""
    from tutor.storage import staged_folder, write_atomic

    place = tmp_path / "saves"
    place.mkdir()
    old = os.umask(0o022)
    try:
        with staged_folder(place / "adapter") as staging:
            (staging / "adapter_config.json").write_text("{}")
        write_atomic(place / "progress.json", "{}")
    finally:
        os.umask(old)
    assert (place / "adapter").stat().st_mode & 0o777 == 0o755
    assert (place / "progress.json").stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in place.iterdir()) == ["adapter", "progress.json"]
