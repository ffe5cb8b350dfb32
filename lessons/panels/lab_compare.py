"""lab-compare: pick a trained adapter, see its files, and hear base and fine-tuned side by side."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Select, Static

from lessons.panels.lab_common import LabPanel
from lessons.reports.lab_compare import adapter_files, files_table
from tutor.engine.config import ConfigError, RunConfig
from tutor.engine.errors import LabError
from tutor.engine.jobs import ADAPTER_DIR, CONFIG_FILE
from tutor.ui.widgets.answer_pairs import AnswerPairs
from tutor.ui.widgets.config_form import ConfigForm
from tutor.ui.widgets.live_text import LiveText
from tutor.ui.widgets.run_log import RunLog

FORM_FIELDS = ("prompt", "sampling", "temperature", "seed", "repetition_penalty", "max_new_tokens")


def train_config(run_dir: Path) -> RunConfig:
    """The config the adapter was trained with, so the base model and 4-bit settings match."""
    try:
        return RunConfig.load(run_dir / CONFIG_FILE)
    except LabError:
        return RunConfig()


class LabComparePanel(LabPanel):
    KIND = "compare"

    def compose(self) -> ComposeResult:
        yield self.adapter_choice()
        yield Static("", id="adapter-files")
        yield ConfigForm(FORM_FIELDS, id="compare-form", flat=True)
        with Horizontal(classes="lab-buttons"):
            yield Button("Reload and compare", id="start", variant="primary")
        yield LiveText("For each prompt the base answer (adapter off) streams first, then the fine-tuned one "
                       "(adapter on): the lesson's prompt, then prompts held out from training.", classes="lab-status")
        yield AnswerPairs(id="compare-answers", classes="run-pane")
        yield RunLog(id="compare-log", classes="run-pane")

    def adapter_choice(self) -> Select:
        """Every known train run that saved an adapter, newest first (chosen); with none, a
        blank choice that says where to get one."""
        runs = [r for r in self.jobs.runs("train") if adapter_files(r.run_dir)]
        if not runs:
            return Select([], prompt="Train a run in lab-train first", id="adapter-choice")
        return Select([(f"{r.run_dir.name} ({r.status})", str(r.run_dir)) for r in runs],
                      value=str(runs[0].run_dir), allow_blank=False, id="adapter-choice")

    def on_mount(self) -> None:  # Textual runs LabPanel's on_mount too
        if (run_dir := self._chosen_run()) is not None:
            self.query_one("#adapter-files", Static).update(files_table(run_dir))

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "adapter-choice" and event.value is not Select.NULL:
            self.query_one("#adapter-files", Static).update(files_table(self._chosen_run()))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id != "start":
            return
        run_dir = self._chosen_run()
        if run_dir is None:
            self.say("[b red]No adapter chosen.[/b red] Train one in lab-train first.")
            return
        form = self.query_one(ConfigForm).read()
        if form is None:
            self.start_run(None)
            return
        asked = {name: getattr(form, name) for name in FORM_FIELDS}
        self.start_run(replace(train_config(run_dir), adapter=str(run_dir / ADAPTER_DIR), **asked))

    def on_config_error(self, exc: ConfigError) -> None:
        self.query_one(ConfigForm).show_errors({e.field: e.message for e in exc.errors})
        super().on_config_error(exc)

    def _chosen_run(self) -> Path | None:
        value = self.query_one("#adapter-choice", Select).value
        return None if value is Select.NULL else Path(value)
