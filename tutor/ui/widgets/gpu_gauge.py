"""GPU memory as the job last measured it: allocated, reserved, peak, of the card's total."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar

from tutor.units import human_bytes
from tutor.ui.widgets.live_text import LiveText

CPU_RUN = "CPU run — no GPU memory"


class GpuGauge(Vertical):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    def compose(self) -> ComposeResult:
        # Hidden until a GPU reading: an empty bar would animate (and repaint) forever.
        bar = ProgressBar(show_eta=False, id="gpu-gauge-bar")
        bar.display = False
        yield bar
        yield LiveText("GPU memory: no run yet", id="gpu-gauge-text")

    def apply(self, events: list[dict]) -> None:
        progress = [e for e in events if e.get("type") == "progress"]
        if progress:
            self._show(progress[-1].get("gpu"))

    def clear(self) -> None:
        self.query_one(ProgressBar).display = False
        self.query_one("#gpu-gauge-text", LiveText).show("GPU memory: waiting for the first step")

    def _show(self, gpu: dict | None) -> None:
        bar = self.query_one(ProgressBar)
        text = self.query_one("#gpu-gauge-text", LiveText)
        bar.display = gpu is not None
        if gpu is None:
            text.show(CPU_RUN)
            return
        bar.update(total=gpu.get("total"), progress=gpu.get("reserved") or 0)
        text.show(
            f"GPU memory: allocated {human_bytes(gpu.get('allocated'))} · "
            f"reserved {human_bytes(gpu.get('reserved'))} · "
            f"peak {human_bytes(gpu.get('max_allocated'))} of {human_bytes(gpu.get('total'))}"
        )
