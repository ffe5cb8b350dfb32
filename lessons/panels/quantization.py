"""Panels of the quantization lesson: absmax by hand, a cosine round trip, one outlier.

What they draw comes from `lessons.reports.quantization` (pure Python, so it recomputes on
every keystroke, no worker needed); `qlora-tutor show` prints the same views.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.validation import Integer, Number
from textual.widgets import Input, Select, Static
from textual_plotext import PlotextPlot

from lessons.panels.common import input_problems
from lessons.reports.quantization import cosine_error_table, draw_cosine, outlier_view, scalar_view
from tutor.engine import quantization as q

CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
BITS_VALIDATOR = Integer(q.BIT_RANGE.start, q.BIT_RANGE.stop - 1, "bits: a whole number from 2 to 8")


class NumberAndBitsPanel(Vertical):
    """A number and a bit width in, a view of what quantization does out.

    Subclasses name their number field and the view; a bad value gets a message and leaves
    the last good view on screen.
    """

    DEFAULT_CSS = CSS
    NUMBER: ClassVar[tuple[str, str, str, Number]]  # id, default, title, validator
    DEFAULT_BITS: ClassVar[str]

    def view(self, number: float, bits: int) -> RenderableType:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        name, default, _, validator = self.NUMBER
        with Horizontal(classes="controls"):
            yield Input(default, id=name, validators=[validator])
            yield Input(self.DEFAULT_BITS, id="bits", validators=[BITS_VALIDATOR])
        yield Static(id="message")
        yield Static(self.view(float(default), int(self.DEFAULT_BITS)), id="result")

    def on_mount(self) -> None:
        name, _, title, _ = self.NUMBER
        self.query_one(f"#{name}", Input).border_title = title
        self.query_one("#bits", Input).border_title = "bits (2-8)"

    def on_input_changed(self, event: Input.Changed) -> None:
        number, bits = self.query_one(f"#{self.NUMBER[0]}", Input), self.query_one("#bits", Input)
        problems = input_problems(number, bits)
        self.query_one("#message", Static).update(Text(problems, style="bold red"))
        if not problems:
            self.query_one("#result", Static).update(self.view(float(number.value), int(bits.value)))


class AbsmaxCalculator(NumberAndBitsPanel):
    """Type a value in [-1, 1] and a bit width; watch it become an integer and come back."""

    NUMBER = ("value", "0.622", "value in [-1, 1]", Number(-1, 1, "value: a number between -1 and 1"))
    DEFAULT_BITS = "4"

    def view(self, number: float, bits: int) -> RenderableType:
        return scalar_view(number, bits)


class CosineRoundTripPlot(Vertical):
    """A smooth curve through 8-bit and a coarser width: where do the steps appear?"""

    DEFAULT_CSS = CSS

    def compose(self) -> ComposeResult:
        yield Select([(f"compare with {b}-bit", b) for b in range(2, 8)], value=4, allow_blank=False, id="coarse")
        yield PlotextPlot(id="plot")
        yield Static(cosine_error_table(4), id="errors")

    def on_mount(self) -> None:
        draw_cosine(self.query_one(PlotextPlot).plt, 4)

    def on_select_changed(self, event: Select.Changed) -> None:
        bits = int(event.value)
        plot = self.query_one(PlotextPlot)
        draw_cosine(plot.plt, bits)
        plot.refresh()
        self.query_one("#errors", Static).update(cosine_error_table(bits))


class OutlierPanel(NumberAndBitsPanel):
    """One large value in a vector stretches the scale and starves everyone else of levels."""

    NUMBER = ("outlier", "20", "outlier value", Number(-1e6, 1e6, "outlier: a number, |x| up to 10^6"))
    DEFAULT_BITS = "8"

    def view(self, number: float, bits: int) -> RenderableType:
        return outlier_view(number, bits)
