"""What the three lab panels share: start a job, follow one run, feed its events to the panes.

The app's JobManager owns the runs; a panel only watches one. On mount it picks up the
latest run of its kind and replays it, so leaving a lesson and coming back (or relaunching
the app) shows the run whole. Every child with the class `run-pane` has `apply(events)` and
`clear()` and gets each batch of events.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from rich.markup import escape
from textual.containers import Vertical
from textual.widgets import Button

from tutor.engine.config import ConfigError, RunConfig
from tutor.engine.errors import LabError
from tutor.engine.events import RunStatus
from tutor.engine.jobs import lost_reason
from tutor.storage import StorageError, describe
from tutor.ui.job_manager import JobEvents, TrackedRun
from tutor.ui.widgets.live_text import LiveText


SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
LIVE_EVENTS = ("progress", "token")  # when these flow, the panes show the run moving


def waiting_note(run: TrackedRun, since: float, now: float) -> str:
    """While a run is quiet (starting, loading, quantizing, saving: seconds with no step or
    token since its phase began): a spinner and the seconds the phase has taken so far."""
    if not run.is_active:
        return ""
    phase_start = since
    for event in reversed(run.events):
        if event.get("type") in LIVE_EVENTS:
            return ""
        if event.get("type") == "phase":
            phase_start = event["t"]
            break
    elapsed = max(now - phase_start, 0.0)
    return f"  {SPINNER[int(elapsed * 2) % len(SPINNER)]} {elapsed:.0f} s"


def describe_status(run: TrackedRun) -> str:
    """One markup line on where the run stands, errors with their hint."""
    name = escape(run.run_dir.name)
    status = run.status
    events = run.events
    if status is RunStatus.FAILED:
        error = next((e for e in reversed(events) if e["type"] == "error"), {})
        hint = f"\n[b]hint:[/b] {escape(error['hint'])}" if error.get("hint") else ""
        return f"[b red]failed:[/b red] {escape(error.get('message', 'see run.log'))}{hint}"
    if status is RunStatus.LOST:
        return (f"[b red]{name} stopped without an end event[/b red] ({escape(lost_reason(run.run_dir))}); "
                f"see run.log in {escape(str(run.run_dir))}")
    if status is RunStatus.CANCELLED:
        saved = any(e["type"] == "summary" for e in events)  # written only once the adapter is on disk
        return f"[b]{name}: cancelled[/b]; " + ("the adapter holds what was trained until then" if saved
                                                else "no adapter was saved")
    if status is RunStatus.RUNNING and run.cancel_requested:
        return f"[b]{name}: stopping[/b] after the current step; the adapter trained so far will be saved"
    phase = next((e["phase"] for e in reversed(events) if e["type"] == "phase"), "starting")
    return f"[b]{name}: {status}[/b]" + (f" ({phase})" if status is RunStatus.RUNNING else "")


class LabPanel(Vertical):
    """Base of the lab panels. Subclasses set KIND and compose a `#start` button.

    The lesson screen finds the panel by its class `lab-panel`: its ctrl+r starts the run
    from anywhere in the lesson, without tabbing to the button.
    """

    KIND: ClassVar[str]
    DEFAULT_CLASSES = "lab-panel"
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    def __init__(self) -> None:
        super().__init__()
        self.run: TrackedRun | None = None
        self.followed_at = time.time()  # a run with no event yet counts its time from here

    @property
    def jobs(self):
        return self.app.jobs

    def on_mount(self) -> None:
        if run := self.jobs.latest(self.KIND):
            self.follow(run)
        self.refresh_controls()
        self.set_interval(0.5, self.tick_while_loading)

    def tick_while_loading(self) -> None:
        if self.run is not None and waiting_note(self.run, self.followed_at, time.time()):
            self.refresh_controls()

    def on_unmount(self) -> None:
        self.jobs.unwatch(self)

    def follow(self, run: TrackedRun) -> None:
        """Show `run` from its first event; later batches arrive as JobEvents."""
        self.jobs.unwatch(self)
        self.run = run
        self.followed_at = time.time()
        for pane in self.query(".run-pane"):
            pane.clear()
        self.show_events(self.jobs.watch(self, run))

    def action_start(self) -> None:
        self.query_one("#start", Button).press()

    def on_job_events(self, message: JobEvents) -> None:
        if self.run is not None and message.run_dir == self.run.run_dir:
            self.show_events(message.events)

    def show_events(self, events: list[dict]) -> None:
        if events:
            for pane in self.query(".run-pane"):
                pane.apply(events)
        self.refresh_controls()

    def start_run(self, config: RunConfig | None) -> None:
        """Start a job with `config` (None: the form showed what is wrong) and follow it."""
        if config is None:
            self.say("[b red]Some fields need fixing[/b red]; see the messages under them.")
            return
        try:
            run = self.jobs.start(self.KIND, config)
        except ConfigError as exc:
            self.on_config_error(exc)
            return
        except LabError as exc:
            self.say(f"[b red]{escape(str(exc))}[/b red]\n[b]hint:[/b] {escape(exc.hint)}")
            return
        except StorageError as exc:
            self.say(f"[b red]{escape(str(exc))}[/b red]")
            return
        except OSError as exc:
            self.say(f"[b red]{escape(describe(exc))}[/b red]")
            return
        self.follow(run)
        # ctrl+r may come from far up the lesson: show the buttons (Cancel), the run's status
        # and its panes under them
        self.query_one(".lab-buttons").scroll_visible(top=True, animate=False)

    def on_config_error(self, exc: ConfigError) -> None:
        self.say(f"[b red]{escape(str(exc))}[/b red]")

    def refresh_controls(self) -> None:
        """Only one run at a time per panel; say where the followed run stands."""
        active = self.run is not None and self.run.is_active
        self.query_one("#start", Button).disabled = active
        if self.run is not None:
            self.say(describe_status(self.run) + waiting_note(self.run, self.followed_at, time.time()))

    def say(self, markup: str) -> None:
        self.query_one(".lab-status", LiveText).show(markup)
