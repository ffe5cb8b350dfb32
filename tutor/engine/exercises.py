"""Write-it-yourself exercises: the catalog, the learner's workspace, their records, checking.

Each exercise is a folder `tutor/exercises/<slug>/` holding `meta.yaml` (title, order,
hints, time limit, exercises it imports), `exercise.py` (the file the learner gets: docstrings and TODOs),
`solution.py` and `checks.py`. Adding an exercise means adding a folder.

The learner edits a copy (`start`), never the packaged file. Checks run in a child process
(`tutor.engine.exercise_runner`) with a time limit, so a learner's infinite loop or crash
cannot hang or kill the caller; this module imports neither torch nor the libraries.
What the learner has done (file, last verdict, hints seen) is kept in
`paths.exercise_records_file()`, changed under a lock and written atomically.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from tutor import paths
from tutor.engine.errors import LabError
from tutor.storage import describe, locked, write_atomic

EXERCISES_DIR = Path(__file__).resolve().parents[1] / "exercises"
PACKAGE_ROOT = Path(__file__).resolve().parents[2]
NOT_STARTED, STARTED, FAILING, PASSING = "not started", "started", "failing", "passing"
STARTUP_SECONDS = 60  # the checker process imports torch and the libraries before any check


class ExerciseError(LabError):
    """A request about an exercise that cannot be met (unknown name, solution not open yet)."""


@dataclass(frozen=True)
class Exercise:
    slug: str
    title: str
    order: int
    summary: str
    hints: tuple[str, ...]
    time_limit: float  # seconds all its checks together may take, not counting the process start
    folder: Path
    requires: tuple[str, ...] = ()  # exercises whose files this one imports from the same folder

    @property
    def template(self) -> Path:
        return self.folder / "exercise.py"

    @property
    def solution(self) -> Path:
        return self.folder / "solution.py"

    @property
    def checks(self) -> Path:
        return self.folder / "checks.py"

    @property
    def file_name(self) -> str:
        return f"{self.slug.replace('-', '_')}.py"


@dataclass
class Record:
    """What the learner did with one exercise."""

    file: str | None = None
    status: str = NOT_STARTED
    failed_once: bool = False
    hints_shown: int = 0


@dataclass(frozen=True)
class CheckResult:
    exercise: str
    check: str
    passed: bool
    message: str = ""


@dataclass
class Report:
    """The verdict on one exercise's file: one result per check."""

    exercise: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)


def _read_exercise(folder: Path) -> Exercise:
    meta = yaml.safe_load((folder / "meta.yaml").read_text(encoding="utf-8"))
    return Exercise(slug=folder.name, title=str(meta["title"]), order=int(meta["order"]),
                    summary=str(meta["summary"]), hints=tuple(str(h) for h in meta["hints"]),
                    time_limit=float(meta.get("time_limit", 30)), folder=folder,
                    requires=tuple(meta.get("requires", ())))


@lru_cache(maxsize=None)
def load_exercises(directory: Path = EXERCISES_DIR) -> tuple[Exercise, ...]:
    """Every exercise, in course order."""
    found = [_read_exercise(meta.parent) for meta in directory.glob("*/meta.yaml")]
    return tuple(sorted(found, key=lambda e: e.order))


def find_exercise(slug: str) -> Exercise:
    for exercise in load_exercises():
        if exercise.slug == slug:
            return exercise
    valid = ", ".join(e.slug for e in load_exercises())
    raise ExerciseError(f"unknown exercise '{slug}'", f"exercises: {valid}")


# --- the learner's records ------------------------------------------------------------


def load_records() -> dict[str, Record]:
    """The saved records; an unreadable file counts as no records (checking rebuilds them)."""
    try:
        raw = json.loads(paths.exercise_records_file().read_text(encoding="utf-8"))
        return {slug: Record(**entry) for slug, entry in raw.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def update_record(slug: str, **changes) -> Record:
    """Change one exercise's record on disk, under a lock (the CLI and the app may both write)."""
    path = paths.exercise_records_file()
    try:
        with locked(path.with_name(path.name + ".lock")):
            records = load_records()
            record = records.setdefault(slug, Record())
            for name, value in changes.items():
                setattr(record, name, value)
            write_atomic(path, json.dumps({s: asdict(r) for s, r in records.items()}, indent=2) + "\n")
    except OSError as exc:
        raise ExerciseError(f"your exercise record is not saved ({describe(exc)})",
                            "free some space or set QLORA_TUTOR_HOME to a writable folder") from None
    return record


def learner_file(exercise: Exercise, directory: Path | None = None) -> Path:
    """The learner's copy: in `directory` if given, else where it was started, else the workspace."""
    if directory is not None:
        return Path(directory).expanduser().resolve() / exercise.file_name
    record = load_records().get(exercise.slug)
    if record and record.file:
        return Path(record.file)
    return paths.exercises_dir() / exercise.file_name


def status(exercise: Exercise) -> str:
    record = load_records().get(exercise.slug, Record())
    if record.status == NOT_STARTED and learner_file(exercise).exists():
        return STARTED
    return record.status


def start(exercise: Exercise, directory: Path | None = None) -> tuple[Path, bool]:
    """Copy the exercise into the workspace; an existing copy is kept. -> (file, newly copied).

    An exercise it imports (`requires`) gets a copy beside it too: the learner's own file
    when they have one, else a fresh one.
    """
    target = learner_file(exercise, directory)
    for slug in exercise.requires:
        required = find_exercise(slug)
        beside, theirs = learner_file(required, target.parent), learner_file(required)
        if not beside.exists():
            _copy(theirs if theirs.exists() else required.template, beside)
    created = not target.exists()
    if created:
        _copy(exercise.template, target)
    record = load_records().get(exercise.slug, Record())
    update_record(exercise.slug, file=str(target),
                  status=STARTED if record.status == NOT_STARTED else record.status)
    return target, created


def _copy(source: Path, target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ExerciseError(describe(exc), "choose a folder you can write to with --dir") from None


def next_hint(exercise: Exercise) -> tuple[int, str]:
    """The next hint not yet shown (the last one again once all are out). -> (number, text)."""
    shown = load_records().get(exercise.slug, Record()).hints_shown
    number = min(shown + 1, len(exercise.hints))
    update_record(exercise.slug, hints_shown=number)
    return number, exercise.hints[number - 1]


def solution_text(exercise: Exercise) -> str:
    """The reference solution, once the learner has had one failed check (as rustlings does)."""
    if not load_records().get(exercise.slug, Record()).failed_once:
        raise ExerciseError(f"the solution of '{exercise.slug}' opens after one failed check",
                            f"write your attempt, then run qlora-tutor exercise check {exercise.slug}")
    return exercise.solution.read_text(encoding="utf-8")


# --- checking -------------------------------------------------------------------------


def run_checks(targets: list[tuple[Exercise, Path]], time_limit: float | None = None) -> list[Report]:
    """Check each (exercise, file) in one child process, one report each; nothing is recorded.

    Each exercise's checks get `time_limit` seconds (default: the exercise's own). A child
    still alive when all the limits and its start-up time are over is killed, and the check
    it was in fails.
    """
    reports = [Report(exercise.slug) for exercise, _ in targets]
    runnable, indices = [], []
    for index, (exercise, file) in enumerate(targets):
        if file.is_file():
            runnable.append([exercise.slug, str(exercise.checks), str(file),
                             exercise.time_limit if time_limit is None else time_limit])
            indices.append(index)
        else:
            reports[index].results.append(CheckResult(
                exercise.slug, "your file exists", False,
                f"{file} does not exist: run qlora-tutor exercise start {exercise.slug}"))
    if runnable:
        _run_child(runnable, sum(seconds for *_, seconds in runnable), [reports[i] for i in indices])
    return reports


def _run_child(runnable: list[list[str]], limit: float, reports: list[Report]) -> None:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, "-m", "tutor.engine.exercise_runner", json.dumps(runnable)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tempfile.gettempdir(),
                              timeout=limit + STARTUP_SECONDS)
        output, stopped = done.stdout, None
        if done.returncode != 0:
            stopped = f"the checker process failed: {_last_line(done.stderr)}"
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        stopped = ("stopped: the checks ran past their time limit inside native code. "
                   "Does your code loop forever, or work on far more data than it needs?")
    running = _collect(output, reports)
    if stopped:
        index, check = running or (len(reports) - 1, "the checks finish")
        reports[index].results.append(CheckResult(reports[index].exercise, check, False, stopped))


def _collect(output: str, reports: list[Report]) -> tuple[int, str] | None:
    """Add the child's results to `reports`; -> the check that started but never finished."""
    running = None
    for line in output.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        report = reports[event["target"]]
        if event["passed"] is None:
            running = (event["target"], event["check"])
        else:
            running = None
            report.results.append(CheckResult(report.exercise, event["check"], event["passed"], event["message"]))
    return running


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def check_and_record(exercise: Exercise, directory: Path | None = None) -> Report:
    """Check the learner's file and remember the verdict (and that a real attempt failed)."""
    file = learner_file(exercise, directory)
    report = run_checks([(exercise, file)])[0]
    changes = {"status": PASSING if report.passed else FAILING}
    if file.exists():
        changes["file"] = str(file)
        if not report.passed:
            changes["failed_once"] = True
    update_record(exercise.slug, **changes)
    return report


def file_stamp(file: Path) -> tuple[int, int] | None:
    """What changes when an editor saves the file (None while it is briefly missing)."""
    try:
        stat = os.stat(file)
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size
