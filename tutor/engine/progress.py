"""The learner's progress: which lessons are done or in progress, quiz scores, where to resume.

Stored as one JSON file in the data home (`tutor.paths.progress_file`). Every save is atomic
(write a temporary file beside it, then rename), so a crash never leaves half a file. A file
that cannot be read is moved aside to `progress.json.corrupt-<time>` and replaced by an empty
record, with a warning for the caller to show; it never stops the app.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tutor.paths import progress_file

NOT_STARTED = "not started"
IN_PROGRESS = "in progress"
DONE = "done"
FORMAT_VERSION = 1


@dataclass
class LessonProgress:
    status: str = NOT_STARTED
    best_score: int | None = None
    quiz_total: int | None = None


@dataclass
class Progress:
    path: Path
    lessons: dict[str, LessonProgress] = field(default_factory=dict)
    last_lesson: str | None = None
    warning: str | None = None  # set when the file on disk was corrupt and got replaced

    def status(self, slug: str) -> str:
        return self.of(slug).status

    def of(self, slug: str) -> LessonProgress:
        return self.lessons.get(slug, LessonProgress())

    def mark_opened(self, slug: str) -> None:
        """The learner opened a lesson: it is in progress (unless done) and where to resume."""
        entry = self.lessons.setdefault(slug, LessonProgress())
        if entry.status == NOT_STARTED:
            entry.status = IN_PROGRESS
        self.last_lesson = slug
        self.save()

    def mark_done(self, slug: str) -> None:
        entry = self.lessons.setdefault(slug, LessonProgress())
        if entry.status != DONE:
            entry.status = DONE
            self.save()

    def record_quiz(self, slug: str, score: int, total: int, passed: bool) -> None:
        """Keep the best score; a passed quiz completes the lesson."""
        entry = self.lessons.setdefault(slug, LessonProgress())
        if entry.best_score is None or score > entry.best_score:
            entry.best_score = score
        entry.quiz_total = total
        if passed:
            entry.status = DONE
        self.save()

    def reset(self) -> None:
        self.lessons.clear()
        self.last_lesson = None
        self.save()

    def to_json(self) -> dict:
        return {
            "version": FORMAT_VERSION,
            "last_lesson": self.last_lesson,
            "lessons": {slug: vars(entry) for slug, entry in self.lessons.items()},
        }

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(self.to_json(), indent=2) + "\n")


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never a mix."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _parse(data: object) -> tuple[dict[str, LessonProgress], str | None]:
    if not isinstance(data, dict) or not isinstance(data.get("lessons", {}), dict):
        raise ValueError("not a progress record")
    lessons = {}
    for slug, raw in data.get("lessons", {}).items():
        if not isinstance(raw, dict) or raw.get("status") not in (NOT_STARTED, IN_PROGRESS, DONE):
            raise ValueError(f"bad entry for {slug!r}")
        lessons[str(slug)] = LessonProgress(
            status=raw["status"], best_score=raw.get("best_score"), quiz_total=raw.get("quiz_total")
        )
    last = data.get("last_lesson")
    return lessons, last if isinstance(last, str) else None


def load_progress(path: Path | None = None) -> Progress:
    """Read the progress file; a missing one is an empty record, a corrupt one is set aside."""
    path = path or progress_file()
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
        progress.save()
        return progress
    return Progress(path, lessons, last)


def exercises_passed() -> tuple[int, int]:
    """(exercises whose last check passed, exercises in the course). Their records live in
    their own file (`tutor.engine.exercises`), written by the checker's caller."""
    from tutor.engine.exercises import PASSING, load_exercises, load_records

    records = load_records()
    exercises = load_exercises()
    return sum(records[e.slug].status == PASSING for e in exercises if e.slug in records), len(exercises)
