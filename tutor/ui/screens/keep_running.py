"""Asked on quit while a run is active: the run lives in its own process, so it can stay."""

from __future__ import annotations

from enum import Enum

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class QuitChoice(Enum):
    KEEP = "keep"  # quit the UI, the run goes on; the next launch re-attaches
    STOP = "stop"  # cancel the run (it saves the adapter trained so far), then quit
    STAY = "stay"  # do not quit


class KeepRunningScreen(ModalScreen[QuitChoice]):
    CSS_PATH = "keep_running.tcss"
    BINDINGS = [Binding("escape", "stay", "Cancel")]

    def __init__(self, active_runs) -> None:
        super().__init__()
        self.active_runs = active_runs

    def compose(self) -> ComposeResult:
        names = ", ".join(f"{run.kind} {run.run_dir.name}" for run in self.active_runs)
        with Vertical(id="keep-running-dialog"):
            yield Static(f"[b]A run is still going:[/b] {names}", id="keep-running-question")
            yield Static(
                "It runs in its own process. Keep it running and the tutor re-attaches the "
                "next time you open it, with the whole loss curve."
            )
            with Vertical(id="keep-running-buttons"):
                yield Button("Keep running in the background", id="keep", variant="primary")
                yield Button("Stop the run (saves the adapter)", id="stop", variant="warning")
                yield Button("Cancel", id="stay")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(QuitChoice(event.button.id))

    def action_stay(self) -> None:
        self.dismiss(QuitChoice.STAY)
