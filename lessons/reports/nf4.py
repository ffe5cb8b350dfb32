"""The nf4 lesson's tables and plot: the levels, a histogram under them, 4-bit formats
compared, and what double quantization saves.

Reading bitsandbytes takes a while; the panels call these functions in a thread worker.
"""

from __future__ import annotations

from collections import Counter

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lessons.reports.plots import Figure, plot_text
from tutor.engine import nf4, quantization as q

REPORT_PLOT_SIZE = (76, 18)
HISTOGRAM_BINS = 64
DEFAULT_MODEL_PARAMS = 65e9  # the double-quant saving is first shown for the paper's 65B model


def levels_table(engine: list[nf4.Level], library: list[float]) -> Table:
    table = Table("#", "P(Z <= z)", "quantile z", "engine", "bitsandbytes", "|diff|",
                  title="NF4 levels: built from N(0,1) quantiles vs read from bitsandbytes", title_justify="left")
    for index, (row, theirs) in enumerate(zip(engine, library)):
        table.add_row(str(index), f"{row.probability:.4f}", f"{row.quantile:+.4f}", f"{row.level:+.4f}",
                      f"{theirs:+.4f}", f"{abs(row.level - theirs):.1e}")
    return table


def levels_report() -> Table:
    """The engine's construction beside the code book bitsandbytes really uses."""
    return levels_table(nf4.nf4_construction(), nf4.bitsandbytes_levels())


def int4_levels() -> list[float]:
    top = q.max_level(4)
    return [i / top for i in range(-top, top + 1)]


def weights_and_levels() -> tuple[list[float], list[float]]:
    """Normal weights scaled by their block's absmax, and the NF4 levels of bitsandbytes."""
    return nf4.normalized_weights(), nf4.bitsandbytes_levels()


def draw_histogram(plt: Figure, weights: list[float], levels: list[float]) -> None:
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


def usage_text(weights: list[float], levels: list[float]) -> Text:
    return Text("\n".join((usage_line(weights, "NF4 ", levels), usage_line(weights, "int4", int4_levels()))))


def histogram_report() -> RenderableType:
    weights, levels = weights_and_levels()
    return Group(plot_text(REPORT_PLOT_SIZE, draw_histogram, weights, levels), usage_text(weights, levels))


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


def formats_report(distribution: str = "normal") -> Table:
    """int4 (uniform) vs FP4 vs NF4, quantized blockwise by bitsandbytes, on `distribution` data."""
    return formats_table(q.compare_4bit_formats(distribution))


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


def double_quant_report() -> RenderableType:
    return Group(constants_table(q.measure_constant_bits()), saving_text(DEFAULT_MODEL_PARAMS))


REPORTS = {
    "NF4LevelsPanel": levels_report,
    "NF4HistogramPanel": histogram_report,
    "FormatErrorPanel": formats_report,
    "DoubleQuantPanel": double_quant_report,
}
