"""The app-wide owner of lab jobs, so leaving a screen never cancels a run.

Jobs run in child processes that write `events.jsonl` into their run folder. One daemon
thread tails every run that may still grow and, per tick and per run, posts one batched
`JobEvents` message to each widget watching that run. Every event read is also kept in
memory, so a panel mounted later (the learner left and came back, or relaunched the app)
replays the run whole before the live messages continue.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from textual.message import Message

from tutor.engine.events import RunStatus, status_of

if TYPE_CHECKING:
    from textual.app import App
    from textual.widget import Widget

    from tutor.engine.jobs import JobHandle, JobRunner

TICK_S = 0.15
RECENT_RUNS = 20


class JobEvents(Message):
    """New events of one run, read in one tail tick. Empty: the process is gone."""

    def __init__(self, run_dir: Path, events: list[dict]) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.events = events


@dataclass(eq=False)
class TrackedRun:
    """One run the app knows about: its job handle and every event read so far."""

    handle: JobHandle
    events: list[dict] = field(default_factory=list)
    watchers: set = field(default_factory=set)
    tailing: bool = True
    cancel_requested: bool = False

    def __post_init__(self) -> None:
        self.tail = self.handle.tail()

    @property
    def run_dir(self) -> Path:
        return Path(self.handle.run_dir)

    @property
    def kind(self) -> str:
        return self.handle.kind

    @property
    def is_active(self) -> bool:
        """The process runs and has not said it ended."""
        return status_of(self.events, self.handle.is_running()) is RunStatus.RUNNING

    @property
    def status(self) -> RunStatus:
        """Running until the tail has read the last line of a process that is gone."""
        return status_of(self.events, self.tailing or self.handle.is_running())


class JobManager:
    """Starts, cancels and re-attaches jobs; feeds their events to the widgets watching."""

    def __init__(self, app: App, runner: JobRunner | None = None) -> None:
        self.app = app
        self._runner = runner
        self._runs: dict[Path, TrackedRun] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._mounted = False

    @property
    def runner(self) -> JobRunner:
        """The engine's runner unless a test gave another; built late, on first use."""
        if self._runner is None:
            from tutor.engine.jobs import SubprocessRunner

            self._runner = SubprocessRunner()
        return self._runner

    # -- what screens and panels call -------------------------------------------------

    def start(self, kind: str, config) -> TrackedRun:
        """Start a job; an invalid config raises (ConfigError) before anything runs."""
        run = self._track(self.runner.start(kind, config))
        self._ensure_thread()
        return run

    def cancel(self, run: TrackedRun) -> None:
        """Ask the job to stop after its current step and save what it has."""
        run.cancel_requested = True
        run.handle.cancel()

    def runs(self, kind: str | None = None) -> list[TrackedRun]:
        """Known runs, newest first."""
        with self._lock:
            runs = list(self._runs.values())
        return [r for r in reversed(runs) if kind is None or r.kind == kind]

    def latest(self, kind: str) -> TrackedRun | None:
        runs = self.runs(kind)
        return runs[0] if runs else None

    def active_runs(self) -> list[TrackedRun]:
        return [r for r in self.runs() if r.is_active]

    def watch(self, widget: Widget, run: TrackedRun) -> list[dict]:
        """Send `widget` this run's future events; return every event so far, to replay.

        Taken under the tail thread's lock, so no event is missed or delivered twice.
        """
        with self._lock:
            run.watchers.add(widget)
            return list(run.events)

    def unwatch(self, widget: Widget) -> None:
        with self._lock:
            for run in self._runs.values():
                run.watchers.discard(widget)

    # -- what the app shell calls ----------------------------------------------------

    def on_app_mount(self) -> None:
        """Re-attach to the recent runs on disk, running or finished, and tail them."""
        if self._mounted:
            return
        self._mounted = True
        recent = self.runner.run_dirs()[:RECENT_RUNS]
        for run_dir in reversed(recent):  # oldest first, so `runs()` is newest first
            if Path(run_dir) not in self._runs:
                self._track(self.runner.attach(run_dir))
        self._ensure_thread()

    async def before_quit(self) -> bool:
        """True: nothing runs, quit now. False: a modal asks, and its answer quits or not.

        Waiting for the answer here would stall the app's message loop when the caller is an
        action, so the modal's callback does the quitting itself.
        """
        active = self.active_runs()
        if not active:
            return True
        from tutor.ui.screens.keep_running import KeepRunningScreen

        self.app.push_screen(KeepRunningScreen(active), self._quit_as_chosen)
        return False

    def _quit_as_chosen(self, choice) -> None:
        from tutor.ui.screens.keep_running import QuitChoice

        if choice is QuitChoice.STAY:
            return
        if choice is QuitChoice.STOP:
            for run in self.active_runs():
                self.cancel(run)
        self.app.exit()

    # -- the tail thread -------------------------------------------------------------

    def _track(self, handle: JobHandle) -> TrackedRun:
        run = TrackedRun(handle)
        with self._lock:
            self._runs[run.run_dir] = run
        return run

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._tail_loop, name="job-tail", daemon=True)
            self._thread.start()

    def _tail_loop(self) -> None:
        """Tail until the app stops; a stopped app cannot take messages anyway."""
        while self.app.is_running:
            time.sleep(TICK_S)
            for run in [r for r in self.runs() if r.tailing]:
                self._tail_once(run)

    def _tail_once(self, run: TrackedRun) -> None:
        # Liveness is checked before reading, so the read after the process exits
        # still picks up its last lines.
        alive = run.handle.is_running()
        events = run.tail.read()
        if not events and alive:
            return
        with self._lock:
            run.events.extend(events)
            run.tailing = bool(events)
            watchers = list(run.watchers)
        # An empty batch tells the watchers the process is gone, so they can say so.
        for widget in watchers:
            # The app may close its loop between our liveness check and this post.
            with contextlib.suppress(RuntimeError):
                widget.post_message(JobEvents(run.run_dir, events))
