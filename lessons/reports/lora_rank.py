"""The lora-rank lesson's views: counting parameters, the SVD error curve, and the
zero-initialised B checked with peft on a tiny random Llama."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lessons.reports.plots import Figure, plot_text
from tutor.engine import lora_math

RANK_ROWS = (1, 2, 4, 8, 16, 32, 64, 128)
REPORT_PLOT_SIZE = (76, 16)
DEFAULT_SIZE, DEFAULT_RANK = 4096, 16  # a 7B model's hidden size, a common rank


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


def counts_report() -> RenderableType:
    return counts_view(DEFAULT_SIZE, DEFAULT_RANK)


def whole_number_ticks(low: int, high: int, most: int = 6) -> list[int]:
    """At most `most` ticks on whole numbers, a step of 1, 2 or 5 times a power of ten
    (plotext's own ticks fall on fractions such as 8.8, meaningless for a rank)."""
    span = max(high - low, 1)
    step = next(base * 10**power for power in range(10) for base in (1, 2, 5)
                if span / (base * 10**power) <= most - 1)
    first = -(-low // step) * step
    return ([low] if first > low else []) + list(range(first, high + 1, step))


def draw_svd(plt: Figure, curve: lora_math.SvdCurve, rank: int) -> None:
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


def svd_report() -> RenderableType:
    """The curve with its true rank marked, and the error at a few ranks around it."""
    curve = lora_math.svd_error_curve()
    table = Table("rank r", "relative error", "parameters kept", title_justify="left")
    for rank in (1, 2, 4, curve.true_rank, 16, 32):
        table.add_row(str(rank), f"{curve.error_at(rank):.2%}", f"{lora_math.kept_share(curve.size, rank):.1%}")
    return Group(plot_text(REPORT_PLOT_SIZE, draw_svd, curve, curve.true_rank), table)


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


def zero_init_report(rank: int = 8, alpha: int = 16) -> RenderableType:
    """Wrap a random tiny Llama with fresh adapters and compare its outputs with the base's."""
    return zero_init_view(lora_math.zero_init_check(rank, alpha))


REPORTS = {"RankCounter": counts_report, "SvdRankPlot": svd_report, "ZeroInitPanel": zero_init_report}
