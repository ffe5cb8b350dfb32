"""lab-train: the QLoRA notebook's recipe as a form; start it and watch loss, progress, memory and log."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Select, Static

from lessons.panels.common import COMPUTING, WorkerPanel
from lessons.panels.lab_common import LabPanel
from lessons.reports.your_data import report_or_error
from tutor.engine.config import ConfigError, RunConfig, current_value
from tutor.ui.job_manager import TrackedRun
from tutor.ui.widgets.config_form import ConfigForm
from tutor.ui.widgets.gpu_gauge import GpuGauge
from tutor.ui.widgets.live_text import LiveText
from tutor.ui.widgets.loss_chart import LossChart
from tutor.ui.widgets.run_log import RunLog
from tutor.ui.widgets.run_progress import RunProgress


PREVIEW_HINT = Text("Set the dataset (data section) to see one of its rows as the trainer will: "
                    "counted tokens green, masked grey.", style="dim")
PREVIEW_DELAY_S = 0.5  # while a path is typed, wait for a pause before reading the file


def recipe_of(run: TrackedRun) -> str:
    """The recipe a train run used, by its current name (runs older than recipes: unknown)."""
    summary = next((e for e in run.events if e.get("type") == "summary"), {})
    return current_value("recipe", summary.get("recipe"))[0] or "recipe unknown"


class DataPreview(WorkerPanel):
    """The dataset the form names, checked and one row coloured by which tokens count, with
    the form's model and max_length: the your-data lesson's report, before the run starts."""

    DEFAULT_CSS = "DataPreview { height: auto; border: round $primary-darken-2; }"

    def __init__(self) -> None:
        super().__init__(id="data-preview")
        defaults = RunConfig()
        self._wanted = self.settings_of(defaults)  # the bundled prompts: nothing set yet
        self._timer = None

    @staticmethod
    def settings_of(config: RunConfig) -> tuple:
        return config.dataset.strip(), config.model, config.max_length, config.text_column

    def compose(self) -> ComposeResult:
        yield Static(PREVIEW_HINT, id="result")

    def on_mount(self) -> None:
        self.border_title = "your data, as the trainer sees it"

    def preview(self, config: RunConfig) -> None:
        """Show `config`'s data once its settings stop changing; unchanged settings: nothing."""
        settings = self.settings_of(config)
        if settings == self._wanted:
            return
        self._wanted = settings
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(PREVIEW_DELAY_S, self._start)

    def _start(self) -> None:
        self.query_one("#result", Static).update(COMPUTING)
        self.start_computing(*self._wanted)

    @staticmethod
    def compute(dataset: str, model: str, max_length: int, text_column: str):
        return report_or_error(dataset, model, max_length, text_column)

    def show(self, result) -> None:
        self.query_one("#result", Static).update(result)


class LabTrainPanel(LabPanel):
    KIND = "train"

    def __init__(self) -> None:
        super().__init__()
        self._offered: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        yield ConfigForm(id="train-form")
        yield DataPreview()
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

    def on_config_form_changed(self, event: ConfigForm.Changed) -> None:
        event.stop()
        if event.config is not None:
            self.query_one(DataPreview).preview(event.config)

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
