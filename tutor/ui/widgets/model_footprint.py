"""What loading did: the phases passed, and the weights' footprint in 4-bit vs 16-bit."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from tutor.units import human_bytes

BAR_WIDTH = 40


class ModelFootprint(Static):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("No model loaded yet.", id=id, classes=classes)
        self.phases: list[str] = []
        self.model: dict | None = None

    def apply(self, events: list[dict]) -> None:
        changed = False
        for event in events:
            if event.get("type") == "phase":
                self.phases.append(str(event.get("phase")))
                changed = True
            elif event.get("type") == "model":
                self.model = event
                changed = True
        if changed:
            self.update(self._render_card())

    def clear(self) -> None:
        self.phases, self.model = [], None
        self.update("Starting…")

    def _render_card(self) -> Table:
        card = Table.grid(padding=(0, 1))
        card.add_column(style="bold")
        card.add_column()
        done = [f"✓ {p}" for p in self.phases[:-1]] + [f"▶ {p}" for p in self.phases[-1:]]
        card.add_row("phases", "  ".join(done) or "—")
        if self.model:
            card.add_row("model", self._model_name())
            card.add_row("params", f"{self.model.get('params') or 0:,} on {self.model.get('device')}")
            card.add_row(*self._footprint_rows())
        return card

    def _model_name(self) -> Text:
        name = Text(str(self.model.get("name")))
        if self.model.get("teaching"):
            name.append("  teaching model: tiny and random, shows the mechanics, not quality", "italic")
        return name

    def _footprint_rows(self) -> tuple[str, Table]:
        loaded = self.model.get("footprint_bytes") or 0
        full = self.model.get("footprint_16bit_bytes") or loaded or 1
        label = "4-bit" if self.model.get("quantized") else "loaded"
        bars = Table.grid(padding=(0, 1))
        for name, size, style in ((label, loaded, "green"), ("16-bit", full, "red")):
            filled = max(1, round(BAR_WIDTH * size / max(loaded, full, 1)))
            bars.add_row(name, Text("█" * filled, style=style), human_bytes(size))
        return "footprint", bars
