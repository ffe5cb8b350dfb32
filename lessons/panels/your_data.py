"""Panels of the your-data lesson: one training row coloured by which tokens count toward
the loss (bundled examples of each shape, or the learner's own file), and the pad = eos trap.
What they draw comes from `lessons.reports.your_data`, which `qlora-tutor show` prints too."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Select, Static

from lessons.panels.common import COMPUTING, ResultPanel
from lessons.reports.your_data import DEFAULT_SOURCE, pad_eos_report, report_or_error
from tutor.engine.config import BUNDLED_DATASET
from tutor.engine.sft_data import SHAPE_EXAMPLES

CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
SOURCES = [(f"example: {shape}", str(path)) for shape, path in SHAPE_EXAMPLES.items()] + [
    ("the lab's bundled prompts", BUNDLED_DATASET)]


class TokenMaskPanel(ResultPanel):
    """Pick an example shape or type the path of your own file (Enter): one row, tokenized as
    SFTTrainer prepares it, counted tokens green and masked ones grey."""

    DEFAULT_CSS = CSS
    compute = staticmethod(report_or_error)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="controls"):
            yield Select(SOURCES, value=DEFAULT_SOURCE, allow_blank=False, id="source")
            yield Input(placeholder="path/to/your.jsonl, .csv or .parquet", id="path")
        yield Static(COMPUTING, id="result")

    def on_mount(self) -> None:
        self.query_one("#source", Select).border_title = "data"
        self.query_one("#path", Input).border_title = "or your own file (Enter)"
        self.start_computing(self.query_one("#source", Select).value)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.query_one("#result", Static).update(COMPUTING)
        self.start_computing(str(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.value.strip():
            self.query_one("#result", Static).update(COMPUTING)
            self.start_computing(event.value.strip())


class PadEosPanel(ResultPanel):
    """The same text row through the notebook's collator and trl's, with pad = eos."""

    DEFAULT_CSS = CSS
    compute = staticmethod(pad_eos_report)
