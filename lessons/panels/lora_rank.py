"""Panels of the lora-rank lesson: counting parameters, the SVD error curve, and the
zero-initialised B checked with peft on a tiny random Llama. What they draw comes from
`lessons.reports.lora_rank`, which `qlora-tutor show` prints too."""

from __future__ import annotations

from pathlib import Path

from rich.console import RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.validation import Integer
from textual.widgets import Input, Static
from textual_plotext import PlotextPlot

from lessons.panels.common import COMPUTING, WorkerPanel, input_problems
from lessons.reports.lora_rank import (
    DEFAULT_RANK, DEFAULT_SIZE, counts_view, draw_svd, svd_summary, zero_init_report,
)
from tutor.engine import lora_math

CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")


class RankCounter(Vertical):
    """Pick d and r: a d x d update against the two thin matrices that replace it."""

    DEFAULT_CSS = CSS

    def compose(self) -> ComposeResult:
        with Horizontal(classes="controls"):
            yield Input(str(DEFAULT_SIZE), id="size", validators=[Integer(1, 65536, "d: a whole number, 1 to 65536")])
            yield Input(str(DEFAULT_RANK), id="rank", validators=[Integer(1, 65536, "r: a whole number, at least 1")])
        yield Static(id="message")
        yield Static(counts_view(DEFAULT_SIZE, DEFAULT_RANK), id="result")

    def on_mount(self) -> None:
        self.query_one("#size", Input).border_title = "d (hidden size)"
        self.query_one("#rank", Input).border_title = "rank r"

    def on_input_changed(self, event: Input.Changed) -> None:
        size_input, rank_input = self.query_one("#size", Input), self.query_one("#rank", Input)
        problems = input_problems(size_input, rank_input)
        if not problems and int(rank_input.value) > int(size_input.value):
            problems = "r cannot exceed d: the factors would hold more than W itself"
        self.query_one("#message", Static).update(Text(problems, style="bold red"))
        if not problems:
            self.query_one("#result", Static).update(counts_view(int(size_input.value), int(rank_input.value)))


class SvdRankPlot(WorkerPanel):
    """Truncate a noisy low-rank matrix with the SVD: how small can r go?"""

    DEFAULT_CSS = CSS
    compute = staticmethod(lora_math.svd_error_curve)

    def __init__(self) -> None:
        super().__init__()
        self.curve: lora_math.SvdCurve | None = None

    def compose(self) -> ComposeResult:
        yield Input("8", id="rank", validators=[Integer(1, 32, "r: a whole number from 1 to 32")])
        yield PlotextPlot(id="plot")
        yield Static(COMPUTING, id="result")

    def on_mount(self) -> None:
        self.query_one("#rank", Input).border_title = "rank r (1-32)"
        self.start_computing()

    def show(self, result: lora_math.SvdCurve) -> None:
        self.curve = result
        self.redraw()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.redraw()

    def redraw(self) -> None:
        rank_input = self.query_one("#rank", Input)
        problems = input_problems(rank_input)
        result = self.query_one("#result", Static)
        if problems:
            result.update(Text(problems, style="bold red"))
        elif self.curve is not None:
            rank = int(rank_input.value)
            plot = self.query_one(PlotextPlot)
            draw_svd(plot.plt, self.curve, rank)
            plot.refresh()
            result.update(svd_summary(self.curve, rank))


class ZeroInitPanel(WorkerPanel):
    """Wrap a model with fresh adapters and compare its outputs with the base's."""

    DEFAULT_CSS = CSS
    compute = staticmethod(zero_init_report)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="controls"):
            yield Input("8", id="rank", validators=[Integer(1, 64, "r: a whole number from 1 to 64")])
            yield Input("16", id="alpha", validators=[Integer(1, 1024, "alpha: a whole number from 1 to 1024")])
        yield Static(COMPUTING, id="result")

    def on_mount(self) -> None:
        self.query_one("#rank", Input).border_title = "rank r"
        self.query_one("#alpha", Input).border_title = "alpha"
        self.start_computing(8, 16)

    def on_input_changed(self, event: Input.Changed) -> None:
        rank, alpha = self.query_one("#rank", Input), self.query_one("#alpha", Input)
        if problems := input_problems(rank, alpha):
            self.query_one("#result", Static).update(Text(problems, style="bold red"))
            return
        self.query_one("#result", Static).update(COMPUTING)
        self.start_computing(int(rank.value), int(alpha.value))

    def show(self, result: RenderableType) -> None:
        self.query_one("#result", Static).update(result)
