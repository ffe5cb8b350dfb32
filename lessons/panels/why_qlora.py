"""The memory bill calculator of the why-qlora lesson; the bill itself is drawn by
`lessons.reports.why_qlora`, which `qlora-tutor show` prints too."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.validation import Integer, Number
from textual.widgets import Button, Checkbox, Input, Select, Static

from lessons.panels.common import input_problems
from lessons.reports.why_qlora import PAPER_65B, TARGETS, Setup, bill_view
from tutor.engine import memory


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
            yield Button("paper's 65B recipe", id="paper-recipe")
        with Horizontal(classes="controls"):
            yield Input("1", id="batch", validators=[Integer(1, 1024, "batch: a whole number, 1 to 1024")])
            yield Input("512", id="seq-len", validators=[Integer(1, 131072, "tokens: a whole number, 1 to 131072")])
            yield Checkbox("gradient checkpointing", True, id="checkpointing")
        with Horizontal(classes="controls"):
            yield Input("16", id="rank", validators=[Integer(1, 1024, "rank: a whole number, 1 to 1024")])
            yield Select([(label, key) for key, label in TARGETS.items()], value="attention",
                         allow_blank=False, id="targets")
            yield Select([(o.label, key) for key, o in memory.OPTIMIZERS.items()], value="adamw",
                         allow_blank=False, id="optimizer")
        yield Static(id="message")
        yield Static(bill_view(), id="bill")

    def on_mount(self) -> None:
        for name, title in (("size", "size (billions)"), ("batch", "batch"), ("seq-len", "tokens"), ("rank", "LoRA r")):
            self.query_one(f"#{name}", Input).border_title = title

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "preset":
            self.query_one("#size", Input).value = f"{memory.PRESETS[str(event.value)].params / 1e9:g}"
        else:
            self.refresh_bill()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.query_one("#size", Input).value = f"{PAPER_65B.params / 1e9:g}"
        self.query_one("#rank", Input).value = str(PAPER_65B.rank)
        self.query_one("#targets", Select).value = PAPER_65B.targets
        self.query_one("#optimizer", Select).value = PAPER_65B.optimizer

    def on_input_changed(self, event: Input.Changed) -> None:
        self.refresh_bill()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.refresh_bill()

    def refresh_bill(self) -> None:
        message = self.query_one("#message", Static)
        inputs = [self.query_one(f"#{name}", Input) for name in ("size", "batch", "seq-len", "rank")]
        if problems := input_problems(*inputs):
            message.update(Text(problems, style="bold red"))
            return
        message.update("")
        size, batch, seq_len, rank = (float(i.value) for i in inputs)
        setup = Setup(
            params=size * 1e9, batch=int(batch), seq_len=int(seq_len),
            checkpointing=self.query_one("#checkpointing", Checkbox).value, rank=int(rank),
            targets=str(self.query_one("#targets", Select).value),
            optimizer=str(self.query_one("#optimizer", Select).value),
        )
        self.query_one("#bill", Static).update(bill_view(setup))
