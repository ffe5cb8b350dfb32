"""The learner's progress: which lessons are done or in progress, quiz scores, where to resume.

Stored as one JSON file in the data home (`tutor.paths.progress_file`). Each change is made
under a file lock to the record as it is on disk at that moment (re-read, change one lesson,
write atomically), so two app instances on one home never erase each other's results. A file
that cannot be parsed is moved aside to `progress.json.corrupt-<time>` and replaced by an
empty record, with a warning for the caller to show. A home that cannot be written (a file
in the way, read-only, full) never stops the app either: progress is kept in memory and
`not_saved` says why it is not on disk.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tutor.paths import progress_file
from tutor.storage import describe, locked, write_atomic

NOT_STARTED = "not started"
IN_PROGRESS = "in progress"
DONE = "done"
FORMAT_VERSION = 1


@dataclass
class LessonProgress:
    status: str = NOT_STARTED
    best_score: int | None = None
    quiz_total: int | None = None
    measured: str | None = None  # a lesson's own measurement that passed, in one line (the capstone's)


@dataclass
class Progress:
    path: Path
    lessons: dict[str, LessonProgress] = field(default_factory=dict)
    last_lesson: str | None = None
    warning: str | None = None  # set when the file on disk was corrupt and got replaced
    not_saved: str | None = None  # set when progress cannot be written: why, in one line
    on_not_saved: Callable[[str], None] | None = field(default=None, repr=False, compare=False)

    def status(self, slug: str) -> str:
        return self.of(slug).status

    def of(self, slug: str) -> LessonProgress:
        return self.lessons.get(slug, LessonProgress())

    def mark_opened(self, slug: str) -> None:
        """The learner opened a lesson: it is in progress (unless done) and where to resume."""
        def edit(record: Progress) -> None:
            entry = record.lessons.setdefault(slug, LessonProgress())
            if entry.status == NOT_STARTED:
                entry.status = IN_PROGRESS
            record.last_lesson = slug
        self.change(edit)

    def mark_done(self, slug: str) -> None:
        def edit(record: Progress) -> None:
            record.lessons.setdefault(slug, LessonProgress()).status = DONE
        if self.status(slug) != DONE:
            self.change(edit)

    def record_quiz(self, slug: str, score: int, total: int, passed: bool) -> None:
        """Keep the best score; a passed quiz completes the lesson."""
        def edit(record: Progress) -> None:
            entry = record.lessons.setdefault(slug, LessonProgress())
            if entry.best_score is None or score > entry.best_score:
                entry.best_score = score
            entry.quiz_total = total
            if passed:
                entry.status = DONE
        self.change(edit)

    def record_measurement(self, slug: str, summary: str) -> None:
        """A lesson whose practical check passed on this machine (the capstone's plan, measured
        within tolerance) is complete, and keeps what was measured."""
        def edit(record: Progress) -> None:
            entry = record.lessons.setdefault(slug, LessonProgress())
            entry.measured = summary
            entry.status = DONE
        self.change(edit)

    def reset(self) -> None:
        def edit(record: Progress) -> None:
            record.lessons.clear()
            record.last_lesson = None
        self.change(edit)

    def to_json(self) -> dict:
        return {
            "version": FORMAT_VERSION,
            "last_lesson": self.last_lesson,
            "lessons": {slug: vars(entry) for slug, entry in self.lessons.items()},
        }

    def change(self, edit: Callable[[Progress], None]) -> None:
        """Apply `edit` here and, under the lock, to the record on disk as it is now.

        Afterwards this record is the merged one, so what another instance saved meanwhile
        shows here too. When the disk refuses, the change is kept in memory only and
        `not_saved` says why.
        """
        edit(self)
        if self.not_saved:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with locked(self.path.with_name(self.path.name + ".lock")):
                current = _read(self.path)
                edit(current)
                write_atomic(self.path, json.dumps(current.to_json(), indent=2) + "\n")
        except OSError as exc:
            self.not_saved = f"progress is not saved ({describe(exc)})"
            if self.on_not_saved:
                self.on_not_saved(self.not_saved)
            return
        self.lessons, self.last_lesson = current.lessons, current.last_lesson
        self.warning = self.warning or current.warning


def _parse(data: object) -> tuple[dict[str, LessonProgress], str | None]:
    if not isinstance(data, dict) or not isinstance(data.get("lessons", {}), dict):
        raise ValueError("not a progress record")
    lessons = {}
    for slug, raw in data.get("lessons", {}).items():
        if not isinstance(raw, dict) or raw.get("status") not in (NOT_STARTED, IN_PROGRESS, DONE):
            raise ValueError(f"bad entry for {slug!r}")
        numbers = (raw.get("best_score"), raw.get("quiz_total"))
        if not all(n is None or (isinstance(n, int) and not isinstance(n, bool)) for n in numbers):
            raise ValueError(f"bad quiz score for {slug!r}")
        measured = raw.get("measured")
        if measured is not None and not isinstance(measured, str):
            raise ValueError(f"bad measurement for {slug!r}")
        lessons[str(slug)] = LessonProgress(raw["status"], *numbers, measured)
    last = data.get("last_lesson")
    return lessons, last if isinstance(last, str) else None


def load_progress(path: Path | None = None) -> Progress:
    """Read the progress file: missing is an empty record, corrupt is set aside, unreadable
    (a folder in its place, a home that is a file) is an empty record saying why."""
    path = path or progress_file()
    try:
        return _read(path)
    except OSError as exc:
        return Progress(path, not_saved=f"progress is not saved ({describe(exc, 'read')})")


def peek_progress(path: Path) -> Progress | None:
    """Another learner's record as it is on disk, for the instructor's view: read only, never
    repaired; None when it cannot be read."""
    try:
        lessons, last = _parse(json.loads(path.read_bytes().decode("utf-8")))
    except FileNotFoundError:
        return Progress(path)
    except (OSError, ValueError, TypeError):
        return None
    return Progress(path, lessons, last)


def _read(path: Path) -> Progress:
    """The record on disk now; a corrupt file is moved aside and replaced by an empty one."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Progress(path)
    try:
        lessons, last = _parse(json.loads(raw.decode("utf-8")))
    except (ValueError, TypeError) as exc:
        backup = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, backup)
        progress = Progress(path, warning=f"Progress file was unreadable ({exc}); "
                            f"saved a copy as {backup.name} and started fresh.")
        write_atomic(path, json.dumps(progress.to_json(), indent=2) + "\n")
        return progress
    return Progress(path, lessons, last)


def exercises_passed() -> tuple[int, int]:
    """(exercises whose last check passed, exercises in the course). Their records live in
    their own file (`tutor.engine.exercises`), written by the checker's caller."""
    from tutor.engine.exercises import PASSING, load_exercises, load_records

    records = load_records()
    exercises = load_exercises()
    return sum(records[e.slug].status == PASSING for e in exercises if e.slug in records), len(exercises)
