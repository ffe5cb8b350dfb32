"""Panels of the your-data lesson: one training row coloured by which tokens count toward
the loss (bundled examples of each shape, or the learner's own file), and the pad = eos trap."""

from __future__ import annotations

from pathlib import Path

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Select, Static

from lessons.panels.common import COMPUTING, ResultPanel
from tutor.engine.config import BUNDLED_DATASET
from tutor.engine.errors import LabError
from tutor.engine.sft_data import SHAPE_EXAMPLES, data_report, eos_kept_by_collators, training_tokenizer
from tutor.render.data_report import data_report_renderable

CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
SOURCES = [(f"example: {shape}", str(path)) for shape, path in SHAPE_EXAMPLES.items()] + [
    ("the lab's bundled prompts", BUNDLED_DATASET)]
MAX_LENGTH = 512


def report_or_error(source: str, model: str = "tiny", max_length: int = MAX_LENGTH,
                    text_column: str | None = None) -> RenderableType:
    """The data report of `source`, or its one-line error and hint in red."""
    try:
        return data_report_renderable(data_report(source, model, max_length, text_column=text_column))
    except LabError as exc:
        return Text(f"{exc}" + (f"  {exc.hint}" if exc.hint else ""), style="bold red")


class TokenMaskPanel(ResultPanel):
    """Pick an example shape or type the path of your own file (Enter): one row, tokenized as
    SFTTrainer prepares it, counted tokens green and masked ones grey."""

    DEFAULT_CSS = CSS

    def compose(self) -> ComposeResult:
        with Horizontal(classes="controls"):
            yield Select(SOURCES, value=str(SHAPE_EXAMPLES["messages"]), allow_blank=False, id="source")
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

    @staticmethod
    def compute(source: str) -> RenderableType:
        return report_or_error(source)

    @classmethod
    def report(cls) -> RenderableType:
        return report_or_error(str(SHAPE_EXAMPLES["messages"]))


def eos_table(kept: dict[str, bool]) -> Table:
    table = Table("collator, with pad_token = eos_token", "the final EOS", title="Does the model learn to stop?",
                  title_justify="left")
    for collator, counted in kept.items():
        table.add_row(collator, Text("counts", style="bold green") if counted
                      else Text("masked (-100): never learned", style="bold red"))
    return table


class PadEosPanel(ResultPanel):
    """The same text row through the seed's collator and trl's, with pad = eos."""

    DEFAULT_CSS = CSS

    @staticmethod
    def compute() -> Table:
        return eos_table(eos_kept_by_collators(training_tokenizer("tiny")))

    @classmethod
    def report(cls) -> Table:
        return cls.compute()
