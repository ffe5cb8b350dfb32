"""The why-qlora lesson's memory bill: three setups side by side, as tables and bars.

Pure-Python arithmetic from `tutor.engine.memory`; `MemoryBillPanel` recomputes it on every
keystroke.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tutor.engine import memory

COMPONENT_STYLES = {
    "weights": "blue",
    "master_weights": "cyan",
    "gradients": "magenta",
    "optimizer": "red",
    "adapter": "green",
    "activations": "yellow",
}
COMPONENT_LABELS = {"master_weights": "fp32 master"}
BAR_WIDTH = 34
TARGETS = {"attention": "q/k/v/o", "all-linear": "all linear"}


@dataclass(frozen=True)
class Setup:
    """What the learner picked; defaults are the notebook's LoRA on a 65B model."""

    params: float = 65e9
    batch: int = 1
    seq_len: int = 512
    checkpointing: bool = True
    rank: int = 16
    targets: str = "attention"
    optimizer: str = "adamw"


PAPER_65B = Setup(rank=64, targets="all-linear", optimizer="paged_adamw_32bit")  # qlora.py's recipe
COLUMNS = {  # column label: (method, convention)
    "Full, paper": ("full", "paper"),
    "Full+master": ("full", "master"),
    "LoRA 16-bit": ("lora", "paper"),
    "QLoRA": ("qlora", "paper"),
}


def format_gb(size_bytes: float) -> str:
    if not size_bytes:
        return "-"
    gb = size_bytes / memory.GB
    return f"{gb:,.1f} GB" if gb >= 1 else f"{gb:.2f} GB"


def shape_for(params: float) -> tuple[memory.ModelShape, str]:
    """A preset's shape when the size is a preset, else the nearest preset's, said so."""
    preset = memory.nearest_preset(params)
    if math.isclose(preset.params, params, rel_tol=1e-9):
        return preset.shape, f"shape of {preset.example}"
    return preset.shape, f"shape borrowed from the nearest preset, {preset.example}"


def fit_text(verdict: memory.Verdict) -> Text:
    if verdict.gpu_gb is None:
        return Text(f"> {memory.COMMON_GPUS_GB[-1]} GB", style="red")
    if verdict.needs_paging:
        return Text(f"{verdict.gpu_gb} GB paged", style="yellow")
    return Text(f"fits {verdict.gpu_gb} GB", style="green")


def bills_for(setup: Setup) -> dict[str, memory.MemoryBill]:
    shape, _ = shape_for(setup.params)
    optimizer = memory.OPTIMIZERS[setup.optimizer]
    return {
        label: memory.estimate(
            setup.params, method, shape, rank=setup.rank, targets=setup.targets, batch=setup.batch,
            seq_len=setup.seq_len, gradient_checkpointing=setup.checkpointing,
            optimizer_bytes=optimizer.bytes_per_param, convention=convention,
        )
        for label, (method, convention) in COLUMNS.items()
    }


def bill_table(setup: Setup, bills: dict[str, memory.MemoryBill]) -> Table:
    paged = memory.OPTIMIZERS[setup.optimizer].paged
    table = Table(title=f"Memory bill, {setup.params / 1e9:g}B parameters", title_justify="left",
                  expand=False, show_edge=False)
    table.add_column("component")
    for label in bills:
        table.add_column(label, justify="right")
    for name, style in COMPONENT_STYLES.items():
        label = COMPONENT_LABELS.get(name, name)
        table.add_row(Text(label, style=style), *(format_gb(getattr(bill, name)) for bill in bills.values()))
    table.add_row(Text("total", style="bold"), *(Text(format_gb(b.total), style="bold") for b in bills.values()))
    table.add_row("+ headroom", *(format_gb(memory.required_bytes(b.total)) for b in bills.values()))
    table.add_row("", *(fit_text(memory.verdict(b, paged)) for b in bills.values()))
    return table


def bill_bars(bills: dict[str, memory.MemoryBill]) -> Text:
    """One stacked horizontal bar per column, all on the same scale."""
    cells_per_byte = BAR_WIDTH / max(bill.total for bill in bills.values())
    bars = Text()
    for label, bill in bills.items():
        bars.append(f"{label:<12}")
        drawn, running = 0, 0.0
        for name in COMPONENT_STYLES:
            running += getattr(bill, name)
            cells = round(running * cells_per_byte) - drawn  # rounding the running sum keeps bars exact
            bars.append("█" * cells, style=COMPONENT_STYLES[name])
            drawn += cells
        bars.append(" " * (BAR_WIDTH - drawn) + f" {format_gb(bill.total)}\n")
    legend = Text("  ").join(
        Text(f"█ {COMPONENT_LABELS.get(name, name)}", style=style) for name, style in COMPONENT_STYLES.items()
    )
    return bars + legend


def bill_view(setup: Setup = Setup()) -> RenderableType:
    bills = bills_for(setup)
    optimizer = memory.OPTIMIZERS[setup.optimizer]
    _, shape_note = shape_for(setup.params)
    assumptions = Text(
        "Full, paper: 16-bit weights and gradients, fp32 Adam, 12 bytes/param as the QLoRA paper "
        "counts; Full+master: plus fp32 master weights, 16 bytes/param, as mixed-precision AdamW. "
        f"{shape_note}; LoRA r={setup.rank} on {TARGETS[setup.targets]}; {optimizer.label}; "
        f"batch {setup.batch} x {setup.seq_len} tokens, gradient checkpointing "
        f"{'on' if setup.checkpointing else 'off'}. Headroom: +{memory.ALLOCATOR_RESERVE:.0%} allocator "
        f"reserve, +{memory.CUDA_CONTEXT_BYTES / memory.GB:g} GB CUDA context. GB = 10^9 bytes.",
        style="dim",
    )
    if optimizer.paged:
        assumptions.append(" \"paged\": fits only while the optimizer state spills to CPU RAM; nothing else pages.")
    return Group(bill_table(setup, bills), assumptions, Text(), bill_bars(bills))


def memory_bill_report() -> RenderableType:
    """The notebook's LoRA on 65B, the paper's 65B recipe, and a 7B model."""
    return Group(bill_view(), Text(), bill_view(PAPER_65B), Text(), bill_view(Setup(params=7e9)))


REPORTS = {"MemoryBillPanel": memory_bill_report}
