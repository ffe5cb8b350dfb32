"""Panels of the nf4 lesson: the levels, a histogram under them, 4-bit formats compared,
and what double quantization saves.

Everything that reads bitsandbytes runs in a thread worker and posts its result once; the
tables and the plot come from `lessons.reports.nf4`, which `qlora-tutor show` prints too.
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.validation import Number
from textual.widgets import Input, Select, Static
from textual_plotext import PlotextPlot

from lessons.panels.common import COMPUTING, WorkerPanel
from lessons.reports.nf4 import (
    DEFAULT_MODEL_PARAMS, constants_table, draw_histogram, formats_report, levels_report, saving_text, usage_text,
    weights_and_levels,
)
from tutor.engine import quantization as q

CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")


class NF4LevelsPanel(WorkerPanel):
    """The engine's construction beside the code book bitsandbytes really uses."""

    DEFAULT_CSS = CSS
    compute = staticmethod(levels_report)

    def compose(self) -> ComposeResult:
        yield Static(COMPUTING, id="result")

    def on_mount(self) -> None:
        self.start_computing()

    def show(self, result: Table) -> None:
        self.query_one("#result", Static).update(result)


class NF4HistogramPanel(WorkerPanel):
    """Normal weights, scaled by their block's absmax, with the NF4 levels drawn over them."""

    DEFAULT_CSS = CSS
    compute = staticmethod(weights_and_levels)

    def compose(self) -> ComposeResult:
        yield PlotextPlot(id="plot")
        yield Static(COMPUTING, id="result")

    def on_mount(self) -> None:
        self.start_computing()

    def show(self, result: tuple[list[float], list[float]]) -> None:
        weights, levels = result
        plot = self.query_one(PlotextPlot)
        draw_histogram(plot.plt, weights, levels)
        plot.refresh()
        self.query_one("#result", Static).update(usage_text(weights, levels))


class FormatErrorPanel(WorkerPanel):
    """int4 (uniform) vs FP4 vs NF4, quantized blockwise by bitsandbytes, on chosen data."""

    DEFAULT_CSS = CSS
    compute = staticmethod(formats_report)

    def compose(self) -> ComposeResult:
        yield Select([("normal weights", "normal"), ("uniform values", "uniform")],
                     value="normal", allow_blank=False, id="distribution")
        yield Static(COMPUTING, id="result")

    def on_mount(self) -> None:
        self.start_computing("normal")

    def on_select_changed(self, event: Select.Changed) -> None:
        self.query_one("#result", Static).update(COMPUTING)
        self.start_computing(str(event.value))

    def show(self, result: Table) -> None:
        self.query_one("#result", Static).update(result)


class DoubleQuantPanel(WorkerPanel):
    """The constants' cost by formula, then measured on a real QuantState; the saving for a model."""

    DEFAULT_CSS = CSS
    compute = staticmethod(q.measure_constant_bits)

    def compose(self) -> ComposeResult:
        yield Static(constants_table(None), id="constants")
        yield Static(COMPUTING, id="result")
        yield Input(f"{DEFAULT_MODEL_PARAMS / 1e9:g}", id="size",
                    validators=[Number(0.01, 2000, "size: a number of billions, 0.01 to 2000")])
        yield Static(saving_text(DEFAULT_MODEL_PARAMS), id="saving")

    def on_mount(self) -> None:
        self.query_one("#size", Input).border_title = "model size (billions)"
        self.start_computing()

    def on_input_changed(self, event: Input.Changed) -> None:
        problems = event.validation_result.failure_descriptions if event.validation_result else []
        if problems:
            self.query_one("#saving", Static).update(Text("; ".join(problems), style="bold red"))
        else:
            self.query_one("#saving", Static).update(saving_text(float(event.value) * 1e9))

    def show(self, result: q.MeasuredConstants) -> None:
        self.query_one("#constants", Static).update(constants_table(result))
        self.query_one("#result", Static).update(
            Text(f"measured on a tensor of {result.numel:,} values quantized by bitsandbytes", style="dim")
        )
