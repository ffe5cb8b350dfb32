"""Panels of the nf4 lesson: the levels, a histogram under them, 4-bit formats compared,
and what double quantization saves.

Everything that reads bitsandbytes runs in a thread worker and posts its result once.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.validation import Number
from textual.widgets import Input, Select, Static
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

from lessons.panels.common import COMPUTING, WorkerPanel
from tutor.engine import nf4, quantization as q

CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
REPORT_PLOT_SIZE = (76, 18)
HISTOGRAM_BINS = 64


def levels_table(engine: list[nf4.Level], library: list[float]) -> Table:
    table = Table("#", "P(Z <= z)", "quantile z", "engine", "bitsandbytes", "|diff|",
                  title="NF4 levels: built from N(0,1) quantiles vs read from bitsandbytes", title_justify="left")
    for index, (row, theirs) in enumerate(zip(engine, library)):
        table.add_row(str(index), f"{row.probability:.4f}", f"{row.quantile:+.4f}", f"{row.level:+.4f}",
                      f"{theirs:+.4f}", f"{abs(row.level - theirs):.1e}")
    return table


class NF4LevelsPanel(WorkerPanel):
    """The engine's construction beside the code book bitsandbytes really uses."""

    DEFAULT_CSS = CSS

    def compose(self) -> ComposeResult:
        yield Static(COMPUTING, id="result")

    def on_mount(self) -> None:
        self.start_computing()

    @staticmethod
    def compute() -> Table:
        return levels_table(nf4.nf4_construction(), nf4.bitsandbytes_levels())

    def show(self, result: Table) -> None:
        self.query_one("#result", Static).update(result)

    @classmethod
    def report(cls) -> RenderableType:
        return cls.compute()


def int4_levels() -> list[float]:
    top = q.max_level(4)
    return [i / top for i in range(-top, top + 1)]


def draw_histogram(plt: Plot, weights: list[float], levels: list[float]) -> None:
    """A histogram of the scaled weights in [-1, 1], the levels marked above it and as lines."""
    tallest_bin = max(Counter(min(int((w + 1) / 2 * HISTOGRAM_BINS), HISTOGRAM_BINS - 1) for w in weights).values())
    plt.clear_data()
    plt.hist(weights, bins=HISTOGRAM_BINS)
    plt.scatter(levels, [tallest_bin * 1.1] * len(levels), marker="▼", color="red")
    for level in levels:
        plt.vline(level, "red")
    plt.title("weights / block absmax (block 64), NF4 levels in red")


def usage_line(weights: list[float], name: str, levels: list[float]) -> str:
    shares = [count / len(weights) for count in nf4.level_usage(weights, levels)]
    return f"{name}: {len(levels)} levels, each holds {min(shares):.1%} to {max(shares):.1%} of the weights"


class NF4HistogramPanel(WorkerPanel):
    """Normal weights, scaled by their block's absmax, with the NF4 levels drawn over them."""

    DEFAULT_CSS = CSS

    def compose(self) -> ComposeResult:
        yield PlotextPlot(id="plot")
        yield Static(COMPUTING, id="result")

    def on_mount(self) -> None:
        self.start_computing()

    @staticmethod
    def compute() -> tuple[list[float], list[float]]:
        return nf4.normalized_weights(), nf4.bitsandbytes_levels()

    def show(self, result: tuple[list[float], list[float]]) -> None:
        weights, levels = result
        plot = self.query_one(PlotextPlot)
        draw_histogram(plot.plt, weights, levels)
        plot.refresh()
        self.query_one("#result", Static).update(usage_text(weights, levels))

    @classmethod
    def report(cls) -> RenderableType:
        weights, levels = cls.compute()
        plt = Plot()
        plt.plotsize(*REPORT_PLOT_SIZE)
        plt.theme("clear")
        draw_histogram(plt, weights, levels)
        return Group(Text.from_ansi(plt.build()), usage_text(weights, levels))


def usage_text(weights: list[float], levels: list[float]) -> Text:
    return Text("\n".join((usage_line(weights, "NF4 ", levels), usage_line(weights, "int4", int4_levels()))))


def formats_table(result: q.FormatComparison) -> Table:
    table = Table("format", *(f"block {size}" for size in result.block_sizes), title_justify="left",
                  title=f"Mean |error| / mean |weight|, {result.distribution} values",
                  caption="lower is better; best per block size in green")
    for fmt, errors in result.errors.items():
        cells = [
            Text(f"{error:.2%}", style="bold green" if result.best_format(size) == fmt else "")
            for size, error in zip(result.block_sizes, errors)
        ]
        table.add_row(fmt, *cells)
    return table


class FormatErrorPanel(WorkerPanel):
    """int4 (uniform) vs FP4 vs NF4, quantized blockwise by bitsandbytes, on chosen data."""

    DEFAULT_CSS = CSS

    def compose(self) -> ComposeResult:
        yield Select([("normal weights", "normal"), ("uniform values", "uniform")],
                     value="normal", allow_blank=False, id="distribution")
        yield Static(COMPUTING, id="result")

    def on_mount(self) -> None:
        self.start_computing("normal")

    def on_select_changed(self, event: Select.Changed) -> None:
        self.query_one("#result", Static).update(COMPUTING)
        self.start_computing(str(event.value))

    @staticmethod
    def compute(distribution: str = "normal") -> Table:
        return formats_table(q.compare_4bit_formats(distribution))

    def show(self, result: Table) -> None:
        self.query_one("#result", Static).update(result)

    @classmethod
    def report(cls) -> RenderableType:
        return cls.compute("normal")


def constants_table(measured: q.MeasuredConstants | None) -> Table:
    block, block2 = q.DEFAULT_BLOCKSIZE, q.SECOND_BLOCKSIZE
    plain = q.constant_bits_per_param()
    double = q.constant_bits_per_param(double_quant=True)
    seen = (f"{measured.plain_bits:.4f}", f"{measured.double_quant_bits:.4f}") if measured else ("…", "…")
    table = Table("constants", "formula", "bits/param", "measured", title_justify="left",
                  title="Bits per parameter spent on block constants (NF4, block 64)")
    table.add_row("fp32 per block", f"32/{block}", f"{plain:.4f}", seen[0])
    table.add_row("double-quantized", f"8/{block} + 32/({block}*{block2})", f"{double:.4f}", seen[1])
    return table


def saving_text(params: float) -> Text:
    saved_bits = q.constant_bits_per_param() - q.constant_bits_per_param(double_quant=True)
    return Text(
        f"{params / 1e9:g}B parameters x {saved_bits:.4f} bits saved / 8 = {params * saved_bits / 8 / 1e9:.2f} GB saved"
    )


class DoubleQuantPanel(WorkerPanel):
    """The constants' cost by formula, then measured on a real QuantState; the saving for a model."""

    DEFAULT_CSS = CSS

    def compose(self) -> ComposeResult:
        yield Static(constants_table(None), id="constants")
        yield Static(COMPUTING, id="result")
        yield Input("65", id="size", validators=[Number(0.01, 2000, "size: a number of billions, 0.01 to 2000")])
        yield Static(saving_text(65e9), id="saving")

    def on_mount(self) -> None:
        self.query_one("#size", Input).border_title = "model size (billions)"
        self.start_computing()

    def on_input_changed(self, event: Input.Changed) -> None:
        problems = event.validation_result.failure_descriptions if event.validation_result else []
        if problems:
            self.query_one("#saving", Static).update(Text("; ".join(problems), style="bold red"))
        else:
            self.query_one("#saving", Static).update(saving_text(float(event.value) * 1e9))

    @staticmethod
    def compute() -> q.MeasuredConstants:
        return q.measure_constant_bits()

    def show(self, result: q.MeasuredConstants) -> None:
        self.query_one("#constants", Static).update(constants_table(result))
        self.query_one("#result", Static).update(
            Text(f"measured on a tensor of {result.numel:,} values quantized by bitsandbytes", style="dim")
        )

    @classmethod
    def report(cls) -> RenderableType:
        return Group(constants_table(q.measure_constant_bits()), saving_text(65e9))
