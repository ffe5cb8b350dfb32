"""lab-train: the QLoRA notebook's recipe as a form; start it and watch loss, progress, memory and log."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Select

from lessons.panels.lab_common import LabPanel
from tutor.engine.config import ConfigError, current_value
from tutor.ui.job_manager import TrackedRun
from tutor.ui.widgets.config_form import ConfigForm
from tutor.ui.widgets.gpu_gauge import GpuGauge
from tutor.ui.widgets.live_text import LiveText
from tutor.ui.widgets.loss_chart import LossChart
from tutor.ui.widgets.run_log import RunLog
from tutor.ui.widgets.run_progress import RunProgress


def recipe_of(run: TrackedRun) -> str:
    """The recipe a train run used, by its current name (runs older than recipes: unknown)."""
    summary = next((e for e in run.events if e.get("type") == "summary"), {})
    return current_value("recipe", summary.get("recipe"))[0] or "recipe unknown"


class LabTrainPanel(LabPanel):
    KIND = "train"

    def __init__(self) -> None:
        super().__init__()
        self._offered: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield ConfigForm(id="train-form")
        with Horizontal(classes="lab-buttons"):
            yield Button("Start training", id="start", variant="primary")
            yield Button("Cancel run (saves the adapter)", id="cancel", variant="warning")
        yield LiveText("Nothing trained yet: the defaults are the notebook's recipe. "
                       "ctrl+r starts it from anywhere in this lesson.",
                       classes="lab-status")
        yield RunProgress(id="train-progress", classes="run-pane")
        yield GpuGauge(id="train-gpu", classes="run-pane")
        yield Select([], prompt="compare with another finished run: none", id="compare-run")
        yield LossChart(id="train-loss", classes="run-pane")
        yield RunLog(id="train-log", classes="run-pane")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.start_run(self.query_one(ConfigForm).read())
        elif event.button.id == "cancel" and self.run is not None:
            self.jobs.cancel(self.run)
            self.refresh_controls()

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "compare-run":
            return
        event.stop()
        other = next((r for r in self.jobs.runs("train") if str(r.run_dir) == event.value), None)
        chart = self.query_one(LossChart)
        if other is None:
            chart.compare_with("", None)
        else:
            chart.compare_with(f"{other.run_dir.name} ({recipe_of(other)})", other.events)

    def on_config_error(self, exc: ConfigError) -> None:
        self.query_one(ConfigForm).show_errors({e.field: e.message for e in exc.errors})
        super().on_config_error(exc)

    def refresh_controls(self) -> None:
        super().refresh_controls()
        active = self.run is not None and self.run.is_active
        self.query_one("#cancel", Button).disabled = not active or self.run.cancel_requested
        self._offer_finished_runs()

    def _offer_finished_runs(self) -> None:
        """The other finished train runs, whose curves the chart can draw next to this one's."""
        others = [(f"{r.run_dir.name} ({recipe_of(r)})", str(r.run_dir)) for r in self.jobs.runs("train")
                  if r.status == "finished" and r is not self.run]
        choice = self.query_one("#compare-run", Select)
        if others != self._offered:
            self._offered = others
            choice.set_options(others)
