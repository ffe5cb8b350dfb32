"""lab-baseline: load a model in 4-bit, see what that saves, and hear its answer stream in."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button

from lessons.panels.lab_common import LabPanel
from tutor.engine.config import ConfigError
from tutor.ui.widgets.config_form import ConfigForm
from tutor.ui.widgets.live_text import LiveText
from tutor.ui.widgets.model_footprint import ModelFootprint
from tutor.ui.widgets.run_log import RunLog
from tutor.ui.widgets.stream_view import StreamView

FORM_FIELDS = ("model", "prompt", "max_new_tokens", "repetition_penalty")


class LabBaselinePanel(LabPanel):
    KIND = "generate"

    def compose(self) -> ComposeResult:
        yield ConfigForm(FORM_FIELDS, id="baseline-form")
        with Horizontal(classes="lab-buttons"):
            yield Button("Load in 4-bit and answer", id="start", variant="primary")
        yield LiveText("Pick a model and a prompt, then load it (ctrl+r anywhere in this lesson).", classes="lab-status")
        yield ModelFootprint(id="baseline-footprint", classes="run-pane")
        yield StreamView("base", "answer before training", id="baseline-answer", classes="run-pane")
        yield RunLog(id="baseline-log", classes="run-pane")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.start_run(self.query_one(ConfigForm).read())

    def on_config_error(self, exc: ConfigError) -> None:
        self.query_one(ConfigForm).show_errors({e.field: e.message for e in exc.errors})
        super().on_config_error(exc)
