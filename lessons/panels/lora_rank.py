"""Panels of the lora-rank lesson: counting parameters, the SVD error curve, and the
zero-initialised B checked with peft on a tiny random Llama."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.validation import Integer
from textual.widgets import Input, Static
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from lessons.panels.common import COMPUTING, WorkerPanel, input_problems
from tutor.engine import lora_math

CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
RANK_ROWS = (1, 2, 4, 8, 16, 32, 64, 128)
REPORT_PLOT_SIZE = (76, 16)


def counts_view(size: int, rank: int) -> RenderableType:
    full = lora_math.full_params(size)
    adapter = lora_math.lora_params(size, rank)
    summary = Text.assemble(
        f"W: {size} x {size} = ", (f"{full:,}", "bold"), " parameters\n",
        f"B.A: {size} x {rank} + {rank} x {size} = 2 x {size} x {rank} = ", (f"{adapter:,}", "bold"),
        f"  ({adapter / full:.2%} of W, {full / adapter:,.1f}x fewer)",
    )
    table = Table("rank r", "2dr", "share of d^2", title=f"d = {size}", title_justify="left")
    for row_rank in sorted({*RANK_ROWS, rank}):
        if row_rank <= size:
            table.add_row(str(row_rank), f"{lora_math.lora_params(size, row_rank):,}",
                          f"{lora_math.kept_share(size, row_rank):.2%}",
                          style="bold reverse" if row_rank == rank else None)
    return Group(summary, table)


class RankCounter(Vertical):
    """Pick d and r: a d x d update against the two thin matrices that replace it."""

    DEFAULT_CSS = CSS

    def compose(self) -> ComposeResult:
        with Horizontal(classes="controls"):
            yield Input("4096", id="size", validators=[Integer(1, 65536, "d: a whole number, 1 to 65536")])
            yield Input("16", id="rank", validators=[Integer(1, 65536, "r: a whole number, at least 1")])
        yield Static(id="message")
        yield Static(counts_view(4096, 16), id="result")

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

    @classmethod
    def report(cls) -> RenderableType:
        return counts_view(4096, 16)


def whole_number_ticks(low: int, high: int, most: int = 6) -> list[int]:
    """At most `most` ticks on whole numbers, a step of 1, 2 or 5 times a power of ten
    (plotext's own ticks fall on fractions such as 8.8, meaningless for a rank)."""
    span = max(high - low, 1)
    step = next(base * 10**power for power in range(10) for base in (1, 2, 5)
                if span / (base * 10**power) <= most - 1)
    first = -(-low // step) * step
    return ([low] if first > low else []) + list(range(first, high + 1, step))


def draw_svd(plt: Plot, curve: lora_math.SvdCurve, rank: int) -> None:
    """Relative error against rank; the chosen rank marked in red."""
    plt.clear_data()
    plt.plot(curve.ranks, curve.errors, marker="braille")
    plt.scatter([rank], [curve.error_at(rank)], marker="●", color="red")
    ticks = whole_number_ticks(curve.ranks[0], curve.ranks[-1])
    plt.xticks(ticks, [str(tick) for tick in ticks])
    plt.title(f"relative error of the best rank-r fit: {curve.size}x{curve.size}, rank {curve.true_rank} + noise")
    plt.xlabel("rank r")


def svd_summary(curve: lora_math.SvdCurve, rank: int) -> Text:
    size = curve.size
    return Text.assemble(
        f"r = {rank}: relative error ", (f"{curve.error_at(rank):.2%}", "bold"),
        f", parameters kept 2 x {size} x {rank} / {size}^2 = ",
        (f"{lora_math.kept_share(size, rank):.1%}", "bold"),
    )


class SvdRankPlot(WorkerPanel):
    """Truncate a noisy low-rank matrix with the SVD: how small can r go?"""

    DEFAULT_CSS = CSS

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

    @staticmethod
    def compute() -> lora_math.SvdCurve:
        return lora_math.svd_error_curve()

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

    @classmethod
    def report(cls) -> RenderableType:
        curve = cls.compute()
        plt = Plot()
        plt.plotsize(*REPORT_PLOT_SIZE)
        plt.theme("clear")
        draw_svd(plt, curve, curve.true_rank)
        table = Table("rank r", "relative error", "parameters kept", title_justify="left")
        for rank in (1, 2, 4, curve.true_rank, 16, 32):
            table.add_row(str(rank), f"{curve.error_at(rank):.2%}", f"{lora_math.kept_share(curve.size, rank):.1%}")
        return Group(Text.from_ansi(plt.build()), table)


def zero_init_view(check: lora_math.ZeroInitCheck) -> RenderableType:
    verdict = ("identical", "bold green") if check.outputs_equal else ("different", "bold red")
    table = Table("what", "value", title_justify="left", show_header=False,
                  title=f"peft LoRA r={check.rank}, alpha={check.alpha}, on a random tiny Llama")
    table.add_row("adapted layers (q, k, v, o x 2)", str(check.adapters))
    table.add_row("largest |entry| of lora_B", f"{check.lora_b_max:g}")
    table.add_row("largest |entry| of lora_A", f"{check.lora_a_max:.4f}")
    table.add_row("scaling read from peft", f"{check.scaling:g} = alpha / r = {check.alpha} / {check.rank}")
    table.add_row("max |base - wrapped| logit", Text(f"{check.max_difference:g} ({verdict[0]})", style=verdict[1]))
    table.add_row("same, after setting B to 0.01", f"{check.difference_after_b_nudge:.4f}")
    return table


class ZeroInitPanel(WorkerPanel):
    """Wrap a model with fresh adapters and compare its outputs with the base's."""

    DEFAULT_CSS = CSS

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

    @staticmethod
    def compute(rank: int = 8, alpha: int = 16) -> RenderableType:
        return zero_init_view(lora_math.zero_init_check(rank, alpha))

    def show(self, result: RenderableType) -> None:
        self.query_one("#result", Static).update(result)

    @classmethod
    def report(cls) -> RenderableType:
        return cls.compute()
