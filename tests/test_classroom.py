"""`qlora-tutor class`: the instructor's view reads every learner's files and changes none."""

from __future__ import annotations

import json
import os
import time

from rich.console import Console

from tutor.cli import main
from tutor.engine.classroom import room
from tutor.engine.events import EventWriter
from tutor.engine.gpu_queue import GIB, Gpu, GpuQueue
from tutor.engine.jobs import write_job
from tutor.render.classroom import room_view


def make_room(root):
    (root / "alice").mkdir(parents=True)
    (root / "alice" / "progress.json").write_text(json.dumps({
        "version": 1, "last_lesson": "nf4",
        "lessons": {"why-qlora": {"status": "done", "best_score": 3, "quiz_total": 4},
                    "quantization": {"status": "in progress", "best_score": None, "quiz_total": None}}}))
    (root / "alice" / "exercises.json").write_text(json.dumps({"absmax": {"status": "passing"},
                                                               "blockwise": {"status": "failing"}}))
    run = root / "alice" / "runs" / "20261202-train-tiny"
    run.mkdir(parents=True)
    write_job(run, {"kind": "train", "started_at": time.time(), "pid": os.getpid(), "pid_create_time": None})
    events = EventWriter(run)
    events.emit("queue", position=2, reason="a CPU slot", need_bytes=0, admitted=None)
    events.close()
    (root / "bob").mkdir()
    (root / "bob" / "progress.json").write_text("{not json")
    (root / "../escape").mkdir(exist_ok=True)


def test_the_room_shows_each_learner_and_leaves_their_files_alone(tmp_path):
    root = tmp_path / "class"
    make_room(root)
    bob_before = (root / "bob" / "progress.json").read_text()
    queue = GpuQueue(tmp_path / "queue", gpus=lambda: [Gpu(0, 16 * GIB, 16 * GIB)])
    queue.join(5 * GIB, label="alice: run")
    seen = room(root, queue)
    alice, bob = seen.learners
    assert (alice.name, alice.lessons_done, alice.quiz_scores, alice.exercises_passed, alice.current_lesson) == \
        ("alice", 1, {"why-qlora": "3/4"}, 1, "nf4")
    assert alice.queued == ["20261202-train-tiny (number 2 in line)"] and alice.running == []
    assert bob.note == "progress file unreadable" and (root / "bob" / "progress.json").read_text() == bob_before
    assert [t.label for t in seen.tickets] == ["alice: run"]
    text = _render(seen)
    assert "alice" in text and "why-qlora 3/4" in text and "queued" in text and "5.00 GiB" in text


def _render(seen) -> str:
    console = Console(width=80, record=True, file=open(os.devnull, "w"))
    console.print(room_view(seen))
    return console.export_text()


def test_class_json_and_a_missing_root(tmp_path, capsys):
    root = tmp_path / "class"
    make_room(root)
    assert main(["class", "--root", str(root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [learner["name"] for learner in data["learners"]] == ["alice", "bob"]
    assert main(["class", "--root", str(tmp_path / "nowhere")]) == 2
    assert "no class root" in capsys.readouterr().err
