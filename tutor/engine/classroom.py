"""The instructor's view of a room: every learner under the class root, and the GPU queue.

Read only: a learner's files are looked at, never repaired or changed.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tutor.engine.events import read_all
from tutor.engine.exercises import PASSING
from tutor.engine.gpu_queue import Gpu, GpuQueue, Ticket, memory_cap, visible_gpus
from tutor.engine.jobs import list_runs
from tutor.engine.lessons import load_catalog
from tutor.engine.progress import DONE, peek_progress

LEARNER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


@dataclass
class LearnerRow:
    name: str
    lessons_done: int
    lessons_total: int
    quiz_scores: dict[str, str]  # slug -> "3/4"
    exercises_passed: int
    current_lesson: str | None
    running: list[str] = field(default_factory=list)  # run folder names
    queued: list[str] = field(default_factory=list)  # "run (number N in line)"
    note: str = ""  # why something could not be read


@dataclass
class Room:
    root: str
    learners: list[LearnerRow]
    gpus: list[Gpu]
    tickets: list[Ticket]
    cpu_slots: int

    def to_json(self) -> dict:
        return asdict(self)


def learner_row(home: Path, lessons_total: int) -> LearnerRow:
    progress = peek_progress(home / "progress.json")
    row = LearnerRow(home.name, 0, lessons_total, {}, _exercises_passed(home), None)
    if progress is None:
        row.note = "progress file unreadable"
    else:
        row.lessons_done = sum(entry.status == DONE for entry in progress.lessons.values())
        row.quiz_scores = {slug: f"{entry.best_score}/{entry.quiz_total}" for slug, entry in progress.lessons.items()
                           if entry.best_score is not None}
        row.current_lesson = progress.last_lesson
    for run in list_runs(home / "runs"):
        if run.status != "running":
            continue
        waits = [e for e in read_all(run.run_dir) if e["type"] == "queue"]
        if waits and waits[-1]["admitted"] is None:
            row.queued.append(f"{run.name} (number {waits[-1]['position']} in line)")
        else:
            row.running.append(run.name)
    return row


def _exercises_passed(home: Path) -> int:
    try:
        records = json.loads((home / "exercises.json").read_text(encoding="utf-8"))
        return sum(1 for record in records.values() if isinstance(record, dict) and record.get("status") == PASSING)
    except (OSError, ValueError, AttributeError):
        return 0


def room(root: Path, queue: GpuQueue | None = None) -> Room:
    """Everything the instructor's view shows, gathered once."""
    queue = queue or GpuQueue()
    total = len(load_catalog())
    homes = sorted(p for p in root.iterdir() if p.is_dir() and LEARNER_NAME.match(p.name)) if root.is_dir() else []
    return Room(str(root), [learner_row(home, total) for home in homes], visible_gpus(memory_cap()),
                queue.snapshot(), queue.slots)
