"""The training loss per step, drawn with plotext."""

from __future__ import annotations

from pathlib import Path

from textual_plotext import PlotextPlot

REDRAW_S = 0.5


class LossChart(PlotextPlot):
    """Collects every loss point at once but redraws at most every REDRAW_S seconds,
    since drawing costs far more than a step event."""

    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.steps: list[int] = []
        self.losses: list[float] = []
        self._stale = True

    def on_mount(self) -> None:
        self.set_interval(REDRAW_S, self._redraw_if_stale)
        self._redraw_if_stale()

    def apply(self, events: list[dict]) -> None:
        for event in events:
            if event.get("type") == "progress" and event.get("loss") is not None:
                self.steps.append(int(event["step"]))
                self.losses.append(float(event["loss"]))
                self._stale = True

    def clear(self) -> None:
        self.steps.clear()
        self.losses.clear()
        self._stale = True

    def _redraw_if_stale(self) -> None:
        if not self._stale:
            return
        self._stale = False
        plt = self.plt
        plt.clear_data()
        plt.title("training loss" if self.steps else "training loss: no steps yet")
        plt.xlabel("step")
        if self.steps:
            plt.plot(self.steps, self.losses, marker="braille")
        self.refresh()
