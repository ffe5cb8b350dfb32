"""The quantization lesson's views: absmax by hand, a cosine round trip, one outlier.

All of it is pure-Python arithmetic from `tutor.engine.quantization`, cheap enough for the
panels to redraw on every keystroke.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lessons.reports.plots import Figure, plot_text
from tutor.engine import quantization as q

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


def draw_cosine(plt: Figure, coarse_bits: int) -> None:
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


def absmax_report() -> RenderableType:
    return Group(scalar_view(0.622, 4), Text(), scalar_view(0.622, 8))


def cosine_report() -> RenderableType:
    return Group(plot_text(REPORT_PLOT_SIZE, draw_cosine, 4), cosine_error_table(4))


def outlier_report() -> RenderableType:
    return Group(outlier_view(20, 8), Text(), outlier_view(20, 4))


REPORTS = {"AbsmaxCalculator": absmax_report, "CosineRoundTripPlot": cosine_report, "OutlierPanel": outlier_report}
