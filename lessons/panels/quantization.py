"""Panels of the quantization lesson: absmax by hand, a cosine round trip, one outlier.

All of it is pure-Python arithmetic from `tutor.engine.quantization`: it recomputes on
every keystroke, no worker needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.validation import Integer, Number
from textual.widgets import Input, Select, Static
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from lessons.panels.common import input_problems
from tutor.engine import quantization as q

CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
BITS_VALIDATOR = Integer(q.BIT_RANGE.start, q.BIT_RANGE.stop - 1, "bits: a whole number from 2 to 8")
REPORT_PLOT_SIZE = (76, 18)


def scalar_view(value: float, bits: int) -> RenderableType:
    """The round trip of one value at the chosen width, then every width for comparison."""
    trip = q.round_trip(value, bits)
    top = q.max_level(bits)
    relative = f" ({trip.error / abs(value):.2%} of the value)" if value else ""
    steps = Text.assemble(
        f"{value:g} x {top} = {trip.scaled:.4f}  ->  rounds to ",
        (str(trip.level), "bold"),
        f"    ({top} = 2^({bits}-1) - 1)\n",
        f"back: {trip.level} / {top} = ",
        (f"{trip.restored:.6f}", "bold"),
        f"    error {trip.error:.6f}{relative}",
    )
    table = Table("bits", "max level", "integer", "restored", "error", title_justify="left")
    for width in q.BIT_RANGE:
        row = q.round_trip(value, width)
        table.add_row(
            str(width), str(q.max_level(width)), str(row.level), f"{row.restored:.6f}", f"{row.error:.6f}",
            style="bold reverse" if width == bits else None,
        )
    return Group(steps, table)


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

    @classmethod
    def report(cls) -> RenderableType:
        return Group(scalar_view(0.622, 4), Text(), scalar_view(0.622, 8))


def draw_cosine(plt: Plot, coarse_bits: int) -> None:
    """cos(x) and its 8-bit and `coarse_bits` round trips on one plot."""
    xs, ys = q.cosine_curve()
    plt.clear_data()
    plt.plot(xs, ys, label="cos(x)", marker="braille")
    for bits in sorted({8, coarse_bits}, reverse=True):
        plt.plot(xs, q.absmax_round_trip(ys, bits).restored, label=f"{bits}-bit", marker="braille")
    plt.title("cos(x), 50 points in [-1, 1], and its round trips")
    plt.xlabel("x")


def cosine_error_table(coarse_bits: int) -> Table:
    _, ys = q.cosine_curve()
    table = Table("round trip", "max error", "mean error", title_justify="left")
    for bits in sorted({8, coarse_bits}, reverse=True):
        trip = q.absmax_round_trip(ys, bits)
        table.add_row(f"{bits}-bit", f"{trip.max_error:.5f}", f"{trip.mean_error:.5f}")
    return table


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

    @classmethod
    def report(cls) -> RenderableType:
        plt = Plot()
        plt.plotsize(*REPORT_PLOT_SIZE)
        plt.theme("clear")
        draw_cosine(plt, 4)
        return Group(Text.from_ansi(plt.build()), cosine_error_table(4))


def outlier_view(outlier: float, bits: int) -> RenderableType:
    demo = q.outlier_demo(outlier, bits)
    count = len(demo.without.values)
    alone_levels, shared_levels = demo.levels_used_by_small_values()
    alone_error, shared_error, blocked_error = demo.small_value_errors()
    block = len(demo.blocked[0].values)
    table = Table("", "scale", "levels used", "mean error", title_justify="left",
                  title=f"{count} small values (std 0.5), {bits}-bit: {demo.levels_available} levels available")
    table.add_row("alone", f"{demo.without.scale:.3f}", str(alone_levels), f"{alone_error:.4f}")
    table.add_row(f"+ outlier {outlier:g}", f"{demo.with_outlier.scale:.3f}", str(shared_levels), f"{shared_error:.4f}")
    table.add_row(f"blocks of {block}", "one per block", "", f"{blocked_error:.4f}")
    return table


class OutlierPanel(NumberAndBitsPanel):
    """One large value in a vector stretches the scale and starves everyone else of levels."""

    NUMBER = ("outlier", "20", "outlier value", Number(-1e6, 1e6, "outlier: a number, |x| up to 10^6"))
    DEFAULT_BITS = "8"

    def view(self, number: float, bits: int) -> RenderableType:
        return outlier_view(number, bits)

    @classmethod
    def report(cls) -> RenderableType:
        return Group(outlier_view(20, 8), Text(), outlier_view(20, 4))
