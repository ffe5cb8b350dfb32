"""Damaged run folders hide only themselves; viewers never stop a job; pipes may close early."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures import make_app

from tutor import paths
from tutor.cli import main
from tutor.commands.train import follow
from tutor.engine import jobs
from tutor.engine.config import RunConfig
from tutor.engine.events import EventTail, EventWriter, RunStatus, status_of

REPO = Path(__file__).resolve().parents[2]
SUMMARY = {"global_step": 3, "train_loss": 2.5, "train_runtime": 1.0, "epoch": 1.0, "adapter_dir": "adapter",
           "cancelled": False}


def good_run(name: str, events=(("summary", SUMMARY), ("end", {"status": "finished"})), pid=None) -> Path:
    run_dir = paths.runs_dir() / name
    run_dir.mkdir(parents=True)
    RunConfig().save(run_dir / jobs.CONFIG_FILE)
    jobs.write_job(run_dir, {"kind": "train", "pid": pid, "started_at": time.time()})
    writer = EventWriter(run_dir)
    for type_, fields in events:
        writer.emit(type_, **fields)
    writer.close()
    return run_dir


def damage(name: str, job: bytes | None = None, events: bytes | None = None) -> Path:
    run_dir = good_run(name)
    if job is not None:
        (run_dir / jobs.JOB_FILE).write_bytes(job)
    if events is not None:
        with open(run_dir / "events.jsonl", "ab") as handle:
            handle.write(events)
    return run_dir


@pytest.fixture
def damaged_runs():
    good_run("good")
    damage("events-number", events=b"123\n")
    damage("events-object", events=b'{"foo": 1}\n')
    damage("events-utf8", events=b'{"type": "log", "t": 1, "message": "\xff\xfe", "level": "info"}\n')
    damage("job-kind", job=b'{"kind": 5, "started_at": 1}')
    damage("job-time", job=b'{"kind": "train", "started_at": "yesterday"}')
    damage("job-pid", job=b'{"kind": "train", "started_at": 1, "pid": "abc"}')
    damage("job-list", job=b"[]")
    damage("job-utf8", job=b'{"kind": "tr\xffain"}')
    (good_run("config-types") / jobs.CONFIG_FILE).write_text("[model]\nmodel = 5\n")
    (good_run("config-binary") / jobs.CONFIG_FILE).write_bytes(bytes(range(256)))
    folder = good_run("events-folder")
    (folder / "events.jsonl").unlink()
    (folder / "events.jsonl").mkdir()


def test_a_damaged_run_folder_hides_only_itself(damaged_runs, capsys):
    assert main(["runs"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    listed = {line.split()[0]: line.split()[2] for line in out.splitlines()[1:]}
    assert listed == {"good": "finished", "events-number": "finished", "events-object": "finished",
                      "events-utf8": "finished", "events-folder": "lost", "config-types": "finished",
                      "config-binary": "finished"}


async def test_the_app_starts_over_damaged_run_folders(damaged_runs):
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.pause()
        assert {run.run_dir.name for run in app.jobs.runs()} >= {"good", "events-utf8"}


def test_a_truncated_last_line_after_done_is_not_lost():
    run_dir = good_run("cut", events=(("summary", SUMMARY), ("phase", {"phase": "done"})))
    with open(run_dir / "events.jsonl", "ab") as handle:
        handle.write(b'{"type": "end", "t": 1, "sta')  # the disk filled up, or a kill, mid-line
    assert status_of(EventTail(run_dir / "events.jsonl").read(), alive=False) is RunStatus.FINISHED
    assert jobs.list_runs()[0].status is RunStatus.FINISHED


def test_runs_piped_into_head_stops_quietly():
    for n in range(300):  # more than a pipe buffer of JSON lines, so the writer meets the closed pipe
        good_run(f"run-{n:03d}")
    for argv in ("runs --json", "runs"):
        result = subprocess.run(f"{sys.executable} -m tutor {argv} | head -1", shell=True, cwd=REPO,
                                capture_output=True, text=True, timeout=120, env=os.environ)
        assert result.stdout.count("\n") == 1 and result.stderr == ""


SLEEPER = """
import signal, sys, time
from tutor.engine.events import EventWriter
writer = EventWriter(sys.argv[1])
def stop(signum, frame):
    writer.emit("end", status="cancelled"); writer.close(); sys.exit(130)
signal.signal(signal.SIGINT, stop)
writer.emit("phase", phase="training", message=None)
while True:
    time.sleep(0.05)
"""


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_viewer_ctrl_c_only_stops_watching_and_cancel_is_explicit():
    run_dir = good_run("live", events=())
    job = subprocess.Popen([sys.executable, "-c", SLEEPER, str(run_dir)], cwd=REPO, start_new_session=True)
    jobs.write_job(run_dir, {"kind": "train", "pid": job.pid, "started_at": time.time(),
                             "pid_create_time": jobs._create_time(job.pid)})
    wait_for(lambda: (run_dir / "events.jsonl").stat().st_size > 0)

    viewer = subprocess.Popen([sys.executable, "-m", "tutor", "runs", "live"], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    assert viewer.stdout.readline().startswith("▶ training")
    viewer.send_signal(signal.SIGINT)
    assert viewer.wait(timeout=60) == 130
    assert "stopped watching; the run goes on (qlora-tutor runs live --cancel stops it)" in viewer.stderr.read()
    assert job.poll() is None  # the job never heard of it

    result = subprocess.run([sys.executable, "-m", "tutor", "runs", "live", "--cancel"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 130 and "Traceback" not in result.stderr
    assert job.wait(timeout=30) == 130
    assert jobs.list_runs()[0].status is RunStatus.CANCELLED


class StubbornHandle:
    """A job that keeps running; the second read delivers SIGTERM to this process."""

    run_dir = Path("run")
    cancel_requests = 0

    def __init__(self):
        self.reads = 0

    def is_running(self):
        return True

    def cancel(self):
        self.cancel_requests += 1

    def tail(self):
        return self

    def read(self):
        self.reads += 1
        if self.reads == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return []


def test_sigterm_to_train_asks_its_job_to_stop_and_says_so(capsys):
    handle = StubbornHandle()
    previous = signal.getsignal(signal.SIGTERM)
    assert follow(handle, json_mode=True) == 143
    assert handle.cancel_requests == 1 and signal.getsignal(signal.SIGTERM) is previous
    assert "terminated; the job was asked to stop after this step and save the adapter" in capsys.readouterr().err


def test_output_on_a_read_only_place_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["train", "--output", str(blocker / "run")]) == 1
    err = capsys.readouterr().err
    assert err == f"qlora-tutor: cannot write {blocker / 'run'}: a file is in the way where a folder should be\n"


def test_a_run_lost_on_a_full_disk_says_the_disk_is_full(monkeypatch):
    from collections import namedtuple

    run_dir = good_run("cut-short", events=(("phase", {"phase": "training"}),))
    assert jobs.lost_reason(run_dir) == "killed, or the machine stopped"
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(jobs.shutil, "disk_usage", lambda path: Usage(10**9, 10**9, 0))
    assert jobs.lost_reason(run_dir) == f"the disk holding {run_dir} is full"


def test_a_save_cut_short_by_sigkill_leaves_nothing_once_the_run_is_looked_at():
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    run_dir = good_run("killed-mid-save", events=(("phase", {"phase": "saving"}),), pid=gone.pid)
    leftover = run_dir / ".adapter.x1y2.partial"
    leftover.mkdir()
    (leftover / "adapter_model.safetensors").write_bytes(b"half")
    live = good_run("saving-now", events=(("phase", {"phase": "saving"}),), pid=os.getpid())
    (live / ".adapter.a1b2.partial").mkdir()

    statuses = {info.run_dir.name: info.status for info in jobs.list_runs()}

    assert statuses["killed-mid-save"] == RunStatus.LOST and not leftover.exists()
    assert (live / ".adapter.a1b2.partial").is_dir()  # a writer that is alive keeps its staging folder
