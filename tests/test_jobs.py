"""Jobs outlive the UI, are found again on disk, and cancel escalates SIGINT -> SIGTERM -> SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tutor import paths
from tutor.cli import main
from tutor.engine import jobs
from tutor.engine.config import RunConfig
from tutor.engine.events import EventWriter


SUMMARY = {"global_step": 65, "train_loss": 2.7, "train_runtime": 12.5, "epoch": 5.0,
           "adapter_dir": "adapter", "cancelled": False}


def fake_run(root: Path, name: str, events: list[tuple[str, dict]], pid=None, started_at=0.0) -> Path:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    RunConfig().save(run_dir / jobs.CONFIG_FILE)
    (run_dir / jobs.JOB_FILE).write_text(json.dumps({"kind": "train", "pid": pid, "started_at": started_at}))
    writer = EventWriter(run_dir)
    for type_, fields in events:
        writer.emit(type_, **fields)
    writer.close()
    return run_dir


def test_list_runs_reads_status_from_events_and_pids():
    root = paths.runs_dir()
    fake_run(root, "a-finished", [("summary", SUMMARY), ("end", {"status": "finished"})], started_at=1)
    fake_run(root, "b-failed", [("error", {"error_type": "X", "message": "boom", "hint": "h"}), ("end", {"status": "failed"})], started_at=2)
    fake_run(root, "c-lost", [("phase", {"phase": "training"})], pid=2**22 + 12345, started_at=3)
    fake_run(root, "d-running", [("phase", {"phase": "training"})], pid=os.getpid(), started_at=4)
    runs = jobs.list_runs()
    assert [(r.name, r.status) for r in runs] == [("d-running", "running"), ("c-lost", "lost"), ("b-failed", "failed"), ("a-finished", "finished")]
    assert runs[3].summary["global_step"] == 65 and runs[2].error["message"] == "boom"


def test_runs_command_lists_them(capsys):
    summary = {**SUMMARY, "global_step": 55, "eval_loss": 2.9, "eval_perplexity": 18.17}
    fake_run(paths.runs_dir(), "a-finished", [("summary", summary), ("end", {"status": "finished"})])
    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert "a-finished" in out and "55 steps, mean train loss 2.7000, eval loss 2.9000, eval perplexity 18.2" in out
    assert main(["runs", "a-finished", "--json"]) == 0  # replay of a finished run
    assert '"status": "finished"' in capsys.readouterr().out


def test_no_runs_says_so_and_json_mode_keeps_stdout_empty(capsys):
    assert main(["runs", "--json"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "no runs yet" in err and "qlora-tutor train --model tiny" in err
    assert main(["runs"]) == 0
    assert "no runs yet" in capsys.readouterr().out


def test_existing_output_folder_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["train", "--output", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert os.listdir(out) == ["keep.txt"]


def test_bad_settings_and_unknown_model_fail_before_any_job(capsys):
    assert main(["train", "--lora-r", "0", "--lr", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--lora-r: must be at least 1" in err and "--learning-rate" in err
    assert main(["train", "--model", "no-such-model"]) == 2
    assert "--model tiny" in capsys.readouterr().err
    assert not any(paths.runs_dir().iterdir())


def test_cancel_escalates_to_sigkill_when_the_job_ignores_signals(monkeypatch):
    monkeypatch.setattr(jobs, "CANCEL_GRACE_S", 0.5)
    monkeypatch.setattr(jobs, "TERM_GRACE_S", 0.5)
    run_dir = jobs.new_run_dir("train", "tiny")
    stubborn = "import signal, time; [signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)]; print('ready', flush=True); time.sleep(60)"
    popen = subprocess.Popen([sys.executable, "-c", stubborn], start_new_session=True, stdout=subprocess.PIPE)
    assert popen.stdout.readline() == b"ready\n"
    jobs.write_job(run_dir, {"kind": "train", "pid": popen.pid, "pid_create_time": jobs._create_time(popen.pid)})
    handle = jobs.ProcessHandle(run_dir, popen)
    handle.cancel()
    assert popen.wait(timeout=10) == -signal.SIGKILL
    assert handle.cancel_requests == 3 and handle.status() == "lost"


@pytest.mark.slow
def test_job_survives_the_ui_and_is_reattached(tmp_path):
    """Kill the process that started a job: the job runs on; attach() replays it all."""
    ui = textwrap.dedent("""
        import sys, time
        from tutor.engine.config import RunConfig
        from tutor.engine.jobs import SubprocessRunner
        handle = SubprocessRunner().start("generate", RunConfig(max_new_tokens=20), sys.argv[1])
        print(handle.pid, flush=True)
        time.sleep(600)
    """)
    run_dir = tmp_path / "run"
    ui_process = subprocess.Popen([sys.executable, "-c", ui, str(run_dir)], stdout=subprocess.PIPE)
    job_pid = int(ui_process.stdout.readline())
    ui_process.kill()
    ui_process.wait()
    handle = jobs.attach(run_dir)
    assert handle.pid == job_pid and handle.is_running()
    assert handle.wait(timeout=240) == "finished"
    events = handle.tail().read()
    assert {"phase", "model", "token", "generation"} <= {e["type"] for e in events}
    assert events[-1]["type"] == "end" and events[-1]["status"] == "finished"
    answer = [e for e in events if e["type"] == "generation"]
    assert answer[0]["stream"] == "base" and answer[0]["new_tokens"] == 20
    assert "".join(e["text"] for e in events if e["type"] == "token") == answer[0]["text"]
    assert [r.status for r in jobs.list_runs(tmp_path)] == ["finished"]


def test_run_dirs_are_newest_first_from_job_files_alone(tmp_path):
    from tutor.engine.jobs import write_job, run_dirs

    for name, started in (("old", 100.0), ("new", 300.0), ("middle", 200.0)):
        (tmp_path / name).mkdir()
        write_job(tmp_path / name, {"kind": "train", "started_at": started, "pid": None})
    (tmp_path / "not-a-run").mkdir()  # no job.json: skipped
    assert [d.name for d in run_dirs(tmp_path)] == ["new", "middle", "old"]


def test_local_paths_in_a_config_are_saved_absolute(tmp_path, monkeypatch):
    from tutor.engine.config import RunConfig

    (tmp_path / "my-model").mkdir()
    (tmp_path / "my-model" / "config.json").write_text("{}")
    (tmp_path / "notes.jsonl").write_text('{"prompt": "hi"}\n')
    monkeypatch.chdir(tmp_path)
    config = RunConfig(model="my-model", dataset="notes.jsonl")
    saved = jobs.with_absolute_paths(config)
    assert saved.model == str(tmp_path / "my-model") and saved.dataset == str(tmp_path / "notes.jsonl")
    assert config.model == "my-model"  # the learner's config object is left as it was
    (tmp_path / "tiny").mkdir()  # a folder named like a preset: the preset still wins, as in resolve_model
    assert jobs.with_absolute_paths(RunConfig()).model == "tiny"
