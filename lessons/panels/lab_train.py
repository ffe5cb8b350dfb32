"""lab-train: the seed's recipe as a form; start it and watch loss, progress, memory and log."""

from __future__ import annotations

from dataclasses import fields

from rich.console import Group
from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button

from lessons.panels.lab_common import LabPanel
from tutor.engine.config import ConfigError, RunConfig
from tutor.ui.widgets.config_form import ConfigForm
from tutor.ui.widgets.gpu_gauge import GpuGauge
from tutor.ui.widgets.live_text import LiveText
from tutor.ui.widgets.loss_chart import LossChart
from tutor.ui.widgets.run_log import RunLog
from tutor.ui.widgets.run_progress import RunProgress


class LabTrainPanel(LabPanel):
    KIND = "train"

    def compose(self) -> ComposeResult:
        yield ConfigForm(id="train-form")
        with Horizontal(classes="lab-buttons"):
            yield Button("Start training", id="start", variant="primary")
            yield Button("Cancel run (saves the adapter)", id="cancel", variant="warning")
        yield LiveText("Nothing trained yet: the defaults are the seed's recipe. "
                       "ctrl+r starts it from anywhere in this lesson.",
                       classes="lab-status")
        yield RunProgress(id="train-progress", classes="run-pane")
        yield GpuGauge(id="train-gpu", classes="run-pane")
        yield LossChart(id="train-loss", classes="run-pane")
        yield RunLog(id="train-log", classes="run-pane")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.start_run(self.query_one(ConfigForm).read())
        elif event.button.id == "cancel" and self.run is not None:
            self.jobs.cancel(self.run)
            self.refresh_controls()

    def on_config_error(self, exc: ConfigError) -> None:
        self.query_one(ConfigForm).show_errors({e.field: e.message for e in exc.errors})
        super().on_config_error(exc)

    def refresh_controls(self) -> None:
        super().refresh_controls()
        active = self.run is not None and self.run.is_active
        self.query_one("#cancel", Button).disabled = not active or self.run.cancel_requested

    @classmethod
    def report(cls) -> Group:
        """The seed's defaults, section by section, with what each field does."""
        table = Table(title="lab-train: the seed's QLoRA recipe (RunConfig defaults)")
        for column in ("section", "field", "default", "what it does"):
            table.add_column(column)
        defaults = RunConfig()
        for f in fields(RunConfig):
            table.add_row(f.metadata["section"], f.name, repr(getattr(defaults, f.name)), f.metadata["help"])
        return Group(table, "Start it from this lesson in the TUI (headless: qlora-tutor train).")
