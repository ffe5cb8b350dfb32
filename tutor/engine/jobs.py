"""Jobs: training and generation run in a child process, in its own session.

A crash in CUDA or a native library, an out-of-memory kill, or a lost terminal then takes
down only the child (or only the UI), never both. Everything a job knows lives in its run
folder, so any process can find it again later:

    config.toml   the RunConfig the job runs
    job.json      kind, argv, start time, pid (and the pid's create time, against pid reuse)
    events.jsonl  the event stream (tutor.engine.events)
    run.log       the child's stdout + stderr (tracebacks, library chatter)
    adapter/      the trained LoRA adapter (train jobs)

The UI and the CLI see jobs through two Protocols: a `JobRunner` (start, attach, run_dirs)
hands out `JobHandle`s (is_running, cancel, tail). `SubprocessRunner` and `ProcessHandle` are
the real ones; tests hand the UI a fake runner with the same shape and the same run folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from tutor import paths
from tutor.engine.config import RunConfig
from tutor.engine.errors import LabError
from tutor.engine.events import EVENTS_FILE, EventTail, RunStatus, read_all, status_of
from tutor.storage import remove_unfinished

JOB_FILE = "job.json"
CONFIG_FILE = "config.toml"
LOG_FILE = "run.log"
ADAPTER_DIR = "adapter"
KINDS = ("train", "generate", "compare")
CANCEL_GRACE_S = 60.0  # SIGINT -> SIGTERM: time to finish the step and save the adapter
TERM_GRACE_S = 10.0  # SIGTERM -> SIGKILL
LOW_DISK_BYTES = 2**20  # less free space than one event line needs with headroom: the disk is full


class OutputExistsError(LabError):
    hint = "Choose a new --output folder, or leave it out to get a fresh one under the runs folder."


@dataclass
class RunInfo:
    """One run folder as `qlora-tutor runs` and the lab's run list show it."""

    run_dir: Path
    kind: str
    status: RunStatus
    started_at: float
    model: str
    pid: int | None
    summary: dict | None  # the `summary` event of a train run, if it got that far
    error: dict | None  # the `error` event, if any

    @property
    def name(self) -> str:
        return self.run_dir.name


class JobHandle(Protocol):
    """A job seen from outside its process."""

    run_dir: Path
    kind: str
    pid: int
    cancel_requests: int  # how many times cancel() was called (or escalated)

    def is_running(self) -> bool: ...

    def cancel(self) -> None:
        """Ask the job to finish its step, save what it has and stop; again: force it."""

    def tail(self) -> EventTail:
        """A fresh tail from offset 0: the first read replays the whole run."""


class JobRunner(Protocol):
    def start(self, kind: str, config: RunConfig, run_dir: Path | None = None) -> JobHandle: ...

    def attach(self, run_dir: Path) -> JobHandle:
        """Re-attach to a run on disk, running or finished."""

    def run_dirs(self) -> list[Path]:
        """Run folders, newest first."""


class ProcessHandle:
    """A job in a child process: started by us (`popen`) or re-attached from disk."""

    def __init__(self, run_dir: Path, popen: subprocess.Popen | None = None) -> None:
        self.run_dir = Path(run_dir)
        job = read_job(self.run_dir)
        self.kind: str = job["kind"]
        self.pid: int = job.get("pid") or (popen.pid if popen else 0)
        self._create_time: float | None = job.get("pid_create_time")
        self._popen = popen
        self.cancel_requests = 0
        self._lock = threading.Lock()

    def is_running(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is None
        return _alive(self.pid, self._create_time)

    def tail(self) -> EventTail:
        return EventTail(self.run_dir / EVENTS_FILE)

    def status(self) -> RunStatus:
        return status_of(read_all(self.run_dir), self.is_running())

    def wait(self, timeout: float | None = None) -> RunStatus:
        """Block until the process exits (or timeout); return the run's status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_running():
            if deadline is not None and time.monotonic() > deadline:
                break
            time.sleep(0.1)
        return self.status()

    def cancel(self) -> None:
        """Ask the job to stop: SIGINT (finish the step, save the adapter, stop).

        If it is still running after CANCEL_GRACE_S it gets SIGTERM, then SIGKILL after
        TERM_GRACE_S. Calling cancel again escalates at once (a second Ctrl-C forces it).
        """
        with self._lock:
            step = self.cancel_requests
            self.cancel_requests += 1
        self._signal((signal.SIGINT, signal.SIGTERM, signal.SIGKILL)[min(step, 2)])
        if step == 0:
            threading.Thread(target=self._escalate, daemon=True).start()

    def _escalate(self) -> None:
        for grace, sig in ((CANCEL_GRACE_S, signal.SIGTERM), (TERM_GRACE_S, signal.SIGKILL)):
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if not self.is_running():
                    return
                time.sleep(0.2)
            with self._lock:
                self.cancel_requests += 1
            self._signal(sig)

    def _signal(self, sig: int) -> None:
        if not self.is_running():
            return
        try:
            os.killpg(self.pid, sig)  # the child leads its own session: its group is its pid
        except ProcessLookupError:
            pass


def with_absolute_paths(config: RunConfig) -> RunConfig:
    """Local model, adapter and dataset paths made absolute: the job runs inside its run
    folder, where a path relative to the learner's shell points nowhere."""
    from tutor.engine.config import BUNDLED_DATASET
    from tutor.engine.presets import get_preset

    is_name = {"model": get_preset(config.model) is not None, "adapter": False,
               "dataset": config.dataset == BUNDLED_DATASET}  # a preset or "bundled" is no path
    absolute = {}
    for field, name_only in is_name.items():
        value = getattr(config, field)
        if value and not name_only and Path(value).expanduser().exists():
            absolute[field] = str(Path(value).expanduser().resolve())
    return replace(config, **absolute)


class SubprocessRunner:
    """Starts jobs as `python -m tutor.engine.worker RUN_DIR` in a new session; finds them
    again under the user's runs folder."""

    def start(self, kind: str, config: RunConfig, run_dir: Path | None = None) -> ProcessHandle:
        if kind not in KINDS:
            raise ValueError(f"unknown job kind {kind!r}; expected one of {KINDS}")
        config.check()
        if not (kind != "train" and config.adapter):
            from tutor.engine.models import resolve_model

            resolve_model(config.model)  # an unknown name fails here, not in the child
        run_dir = claim_output_dir(Path(run_dir)) if run_dir else new_run_dir(kind, config.model)
        with_absolute_paths(config).save(run_dir / CONFIG_FILE)
        argv = [sys.executable, "-m", "tutor.engine.worker", str(run_dir)]
        write_job(run_dir, {"kind": kind, "argv": argv, "started_at": round(time.time(), 3), "pid": None})
        env = dict(os.environ, PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        with open(run_dir / LOG_FILE, "ab") as log:
            popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, env=env, cwd=run_dir, close_fds=True,
            )
        job = read_job(run_dir)
        job.update(pid=popen.pid, pid_create_time=_create_time(popen.pid))
        write_job(run_dir, job)
        return ProcessHandle(run_dir, popen)

    def attach(self, run_dir: Path) -> ProcessHandle:
        return attach(run_dir)

    def run_dirs(self) -> list[Path]:
        return run_dirs()


def new_run_dir(kind: str, model: str, root: Path | None = None) -> Path:
    """A fresh folder named by time, kind and model; never one that exists."""
    root = Path(root) if root else paths.runs_dir()
    slug = re.sub(r"[^A-Za-z0-9.-]+", "-", Path(model).name or model).strip("-")[:40] or "model"
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{kind}-{slug}"
    for n in range(1000):
        candidate = root / (base if n == 0 else f"{base}-{n}")
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
    raise OutputExistsError(f"could not create a new run folder under {root}")


def claim_output_dir(path: Path) -> Path:
    """Use `path` for a run only if it is new or empty: an existing run is never overwritten."""
    path = path.expanduser().resolve()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise OutputExistsError(f"output folder {path} already exists and is not empty")
    path.mkdir(parents=True, exist_ok=True)
    return path


def read_job(run_dir: Path) -> dict:
    """job.json, checked field by field: a damaged one makes this run unreadable, never a reader crash."""
    try:
        job = json.loads((Path(run_dir) / JOB_FILE).read_bytes())
        problem = _job_problem(job)
    except (OSError, ValueError):  # ValueError covers bad JSON and bad UTF-8
        problem = f"no readable {JOB_FILE}"
    if problem:
        raise LabError(f"{run_dir} is not a run folder ({problem})", "Pick a folder listed by `qlora-tutor runs`.")
    return job


def _job_problem(job) -> str | None:
    if not isinstance(job, dict):
        return f"{JOB_FILE} is not an object"
    if job.get("kind") not in KINDS:
        return f"{JOB_FILE} has kind {job.get('kind')!r}"
    numbers = {"started_at": (int, float), "pid": (int, type(None)), "pid_create_time": (int, float, type(None))}
    for name, types in numbers.items():
        value = job.get(name, 0.0 if name == "started_at" else None)
        if not isinstance(value, types) or isinstance(value, bool):
            return f"{JOB_FILE} has {name} = {value!r}"
    return None


def attach(run_dir: Path) -> ProcessHandle:
    """Re-attach to a run on disk (running or finished); its tail replays every event."""
    return ProcessHandle(Path(run_dir))


def run_dirs(root: Path | None = None) -> list[Path]:
    """Run folders under `root` (default: the user's runs folder), newest first.

    Reads only each job.json: the app calls this on start-up, before its first frame.
    """
    return [run_dir for run_dir, _ in _jobs_newest_first(root)]


def _jobs_newest_first(root: Path | None) -> list[tuple[Path, dict]]:
    root = Path(root) if root else paths.home_path() / "runs"  # reading creates nothing
    jobs = []
    for run_dir in root.iterdir() if root.is_dir() else ():
        try:
            jobs.append((run_dir, read_job(run_dir)))
        except LabError:
            continue
    return sorted(jobs, key=lambda item: item[1].get("started_at", 0.0), reverse=True)


def list_runs(root: Path | None = None) -> list[RunInfo]:
    """Every run under `root`, newest first, with its status, summary and error."""
    runs = []
    for run_dir, job in _jobs_newest_first(root):
        events = read_all(run_dir)  # lines that are not valid events are skipped
        by_type = {e["type"]: e for e in events}
        pid = job.get("pid")
        running = bool(pid) and _alive(pid, job.get("pid_create_time"))
        if pid and not running:
            remove_unfinished(run_dir)  # a save cut short by SIGKILL: nothing can finish it now
        runs.append(RunInfo(
            run_dir=run_dir, kind=job.get("kind", "?"), status=status_of(events, running),
            started_at=job.get("started_at", 0.0), model=_config_model(run_dir), pid=pid,
            summary=by_type.get("summary"), error=by_type.get("error"),
        ))
    return runs


def _config_model(run_dir: Path) -> str:
    """The run's model name, or "?" when its config.toml is missing or damaged."""
    try:
        model = RunConfig.load(run_dir / CONFIG_FILE).model
    except LabError:
        return "?"
    return model if isinstance(model, str) else "?"


def write_job(run_dir: Path, job: dict) -> None:
    """job.json, replaced whole: a reader never sees half of it."""
    tmp = run_dir / (JOB_FILE + ".tmp")
    tmp.write_text(json.dumps(job, indent=2), encoding="utf-8")
    os.replace(tmp, run_dir / JOB_FILE)


def lost_reason(run_dir: Path) -> str:
    """Why a job may have stopped without its end event, as far as this machine can tell."""
    try:
        full = shutil.disk_usage(run_dir).free < LOW_DISK_BYTES
    except OSError:
        full = False
    return f"the disk holding {run_dir} is full" if full else "killed, or the machine stopped"


def _create_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _alive(pid: int, create_time: float | None) -> bool:
    """True if `pid` runs and is still our process (not a zombie, not a reused pid)."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return create_time is None or abs(process.create_time() - create_time) < 0.5
    except psutil.Error:
        return False
