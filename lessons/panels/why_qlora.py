"""The memory bill calculator of the why-qlora lesson.

Pure-Python arithmetic from `tutor.engine.memory`, so it recomputes on every keystroke.
"""

from __future__ import annotations

import math
from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.validation import Integer, Number
from textual.widgets import Checkbox, Input, Select, Static

from tutor.engine import memory

COMPONENT_STYLES = {
    "weights": "blue",
    "gradients": "magenta",
    "optimizer": "red",
    "adapter": "green",
    "activations": "yellow",
}
BAR_WIDTH = 34
METHOD_SHORT = {"full": "Full FT", "lora": "LoRA 16-bit", "qlora": "QLoRA"}


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


def fit_text(total: float) -> Text:
    gpu = memory.smallest_gpu(total)
    if gpu is None:
        return Text(f"needs > {memory.COMMON_GPUS_GB[-1]} GB", style="red")
    return Text(f"fits {gpu} GB GPU", style="green")


def bill_table(params: float, bills: dict[str, memory.MemoryBill]) -> Table:
    table = Table(title=f"Memory bill, {params / 1e9:g}B parameters", title_justify="left", expand=False)
    table.add_column("component")
    for method in memory.METHODS:
        table.add_column(METHOD_SHORT[method], justify="right")
    for name, style in COMPONENT_STYLES.items():
        table.add_row(Text(name, style=style), *(format_gb(getattr(bills[m], name)) for m in memory.METHODS))
    table.add_row(Text("total", style="bold"), *(Text(format_gb(bills[m].total), style="bold") for m in memory.METHODS))
    table.add_row("", *(fit_text(bills[m].total) for m in memory.METHODS))
    return table


def bill_bars(bills: dict[str, memory.MemoryBill]) -> Text:
    """One stacked horizontal bar per method, all on the same scale."""
    cells_per_byte = BAR_WIDTH / max(bill.total for bill in bills.values())
    bars = Text()
    for method, bill in bills.items():
        bars.append(f"{METHOD_SHORT[method]:<12}")
        drawn, running = 0, 0.0
        for name, size in bill.items():
            running += size
            cells = round(running * cells_per_byte) - drawn  # rounding the running sum keeps bars exact
            bars.append("█" * cells, style=COMPONENT_STYLES[name])
            drawn += cells
        bars.append(" " * (BAR_WIDTH - drawn) + f" {format_gb(bill.total)}\n")
    legend = Text("  ").join(Text(f"█ {name}", style=style) for name, style in COMPONENT_STYLES.items())
    return bars + legend


def bill_view(params: float, batch: int = 1, seq_len: int = 512, checkpointing: bool = True) -> RenderableType:
    shape, shape_note = shape_for(params)
    bills = {
        method: memory.estimate(params, method, shape, batch=batch, seq_len=seq_len, gradient_checkpointing=checkpointing)
        for method in memory.METHODS
    }
    assumptions = Text(
        f"{shape_note}; LoRA r=16 on q/k/v/o; batch {batch} x {seq_len} tokens, "
        f"gradient checkpointing {'on' if checkpointing else 'off'}; GB = 10^9 bytes",
        style="dim",
    )
    return Group(bill_table(params, bills), assumptions, Text(), bill_bars(bills))


class MemoryBillPanel(Vertical):
    """Pick a model size and training setup; see what each method needs in GPU memory."""

    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    def compose(self) -> ComposeResult:
        with Horizontal(classes="controls"):
            yield Select(
                [(f"{p.label}  {p.example}", p.label) for p in memory.PRESETS.values()],
                value="65B",
                allow_blank=False,
                id="preset",
            )
            yield Input("65", id="size", validators=[Number(0.01, 2000, "size: a number of billions, 0.01 to 2000")])
        with Horizontal(classes="controls"):
            yield Input("1", id="batch", validators=[Integer(1, 1024, "batch: a whole number, 1 to 1024")])
            yield Input("512", id="seq-len", validators=[Integer(1, 131072, "tokens: a whole number, 1 to 131072")])
            yield Checkbox("gradient checkpointing", True, id="checkpointing")
        yield Static(id="message")
        yield Static(bill_view(65e9), id="bill")

    def on_mount(self) -> None:
        self.query_one("#size", Input).border_title = "size (billions)"
        self.query_one("#batch", Input).border_title = "batch"
        self.query_one("#seq-len", Input).border_title = "tokens"

    def on_select_changed(self, event: Select.Changed) -> None:
        preset = memory.PRESETS[str(event.value)]
        self.query_one("#size", Input).value = f"{preset.params / 1e9:g}"

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refresh_bill()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.refresh_bill()

    def refresh_bill(self) -> None:
        message = self.query_one("#message", Static)
        inputs = [self.query_one(f"#{name}", Input) for name in ("size", "batch", "seq-len")]
        problems = [d for i in inputs for d in i.validate(i.value).failure_descriptions]
        if problems:
            message.update(Text("; ".join(problems), style="bold red"))
            return
        message.update("")
        size, batch, seq_len = (float(i.value) for i in inputs)
        checkpointing = self.query_one("#checkpointing", Checkbox).value
        self.query_one("#bill", Static).update(bill_view(size * 1e9, int(batch), int(seq_len), checkpointing))

    @classmethod
    def report(cls) -> RenderableType:
        return Group(bill_view(65e9), Text(), bill_view(7e9))
