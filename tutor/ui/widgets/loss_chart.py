"""The training loss per step and the held-out loss per evaluation, drawn with plotext.

The axes are fixed for the whole run, so the curve moves and the frame does not: x from 0 to
the run's total steps, y from 0 to a little above ln(vocabulary size), the loss of a model
that guesses every token with equal odds (drawn dotted as "uniform guess"). A loss below
that line means the model knows something; the y axis grows only if a loss goes above it.
A finished run's curves can be drawn next to the current ones, dimmed, to compare recipes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from textual_plotext import PlotextPlot

REDRAW_S = 0.5
Y_HEADROOM = 1.1  # the uniform-guess line sits a little below the top
GUESS_DOTS = 40  # points of the dotted uniform-guess line
MAX_MARKERS = 15  # more held-out points than this are drawn as a line only


@dataclass
class Curves:
    """One run's points, read from its events."""

    name: str = ""
    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_losses: list[float] = field(default_factory=list)
    eval_epochs: list[float] = field(default_factory=list)
    total_steps: int = 0
    vocab_size: int | None = None

    def add(self, events: list[dict]) -> bool:
        """Take the points these events carry; True if any."""
        changed = False
        for event in events:
            kind = event.get("type")
            if kind == "progress" and event.get("loss") is not None:
                self.steps.append(int(event["step"]))
                self.losses.append(float(event["loss"]))
            elif kind == "eval":
                self.eval_steps.append(int(event["step"]))
                self.eval_losses.append(float(event["eval_loss"]))
                self.eval_epochs.append(float(event.get("epoch") or 0.0))
            elif kind == "model" and event.get("vocab_size"):
                self.vocab_size = int(event["vocab_size"])
            else:
                continue
            self.total_steps = max(self.total_steps, int(event.get("total_steps") or 0))
            changed = True
        return changed

    def best_eval(self) -> tuple[int, float] | None:
        """(step, epoch) of the lowest held-out loss: past it, more training made things worse."""
        if not self.eval_losses:
            return None
        at = self.eval_losses.index(min(self.eval_losses))
        return self.eval_steps[at], self.eval_epochs[at]


def uniform_guess_loss(vocab_size: int) -> float:
    """Cross-entropy of a model that gives every token 1/vocab_size: ln(vocab_size)."""
    return math.log(vocab_size)


def y_top(curves: list[Curves]) -> float:
    """A little above ln(vocab), or above the highest loss if one goes higher; in half units."""
    highest = [Y_HEADROOM * uniform_guess_loss(c.vocab_size) for c in curves if c.vocab_size]
    highest += [max(c.losses + c.eval_losses) for c in curves if c.losses or c.eval_losses]
    return math.ceil(max(highest, default=1.0) * 2) / 2


def nice_ticks(top: float, most: int = 6, whole: bool = False) -> list[float]:
    """Ticks 0, s, 2s, ... up to `top`, s being 1, 2 or 5 times a power of ten (at least 1
    when `whole`, so a step axis never reads 1.25 steps)."""
    raw = max(top / most, 1e-9)
    power = 10 ** math.floor(math.log10(raw))
    spacing = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if whole:
        spacing = max(int(spacing), 1)
    return [round(i * spacing, 6) for i in range(int(top / spacing + 1e-9) + 1)]


class LossChart(PlotextPlot):
    """Collects every point at once but redraws at most every REDRAW_S seconds, since
    drawing costs far more than a step event."""

    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.run = Curves()
        self.reference: Curves | None = None
        self._stale = True

    def on_mount(self) -> None:
        self.set_interval(REDRAW_S, self._redraw_if_stale)
        self._redraw_if_stale()

    def apply(self, events: list[dict]) -> None:
        if self.run.add(events):
            self._stale = True

    def clear(self) -> None:
        self.run = Curves()
        self._stale = True

    def compare_with(self, name: str, events: list[dict] | None) -> None:
        """Draw a finished run's curves next to this one's (None: stop comparing)."""
        self.reference = None
        if events is not None:
            self.reference = Curves(name=name)
            self.reference.add(events)
        self._stale = True

    def axes(self) -> tuple[int, float]:
        """(last step on the x axis, top of the y axis) for the curves shown."""
        shown = [c for c in (self.run, self.reference) if c is not None]
        return max(c.total_steps for c in shown), y_top(shown)

    def _redraw_if_stale(self) -> None:
        if not self._stale:
            return
        self._stale = False
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if not self.run.steps and self.reference is None:
            plt.title("training loss: no steps yet")
            self.refresh()
            return
        x_max, top = self.axes()
        plt.title("loss per training step, and on the held-out samples")
        plt.xlabel("step")
        plt.xlim(0, max(x_max, 1))
        plt.ylim(0, top)
        plt.xticks(nice_ticks(x_max, whole=True))
        plt.yticks(nice_ticks(top, most=4))
        vocab = self.run.vocab_size or (self.reference.vocab_size if self.reference else None)
        if vocab:
            guess = uniform_guess_loss(vocab)
            xs = [x_max * i / GUESS_DOTS for i in range(GUESS_DOTS + 1)]
            plt.scatter(xs, [guess] * len(xs), marker="·", color="gray",
                        label=f"uniform guess ln({vocab:,}) = {guess:.2f}")
        if self.reference is not None:
            self._draw(self.reference, dimmed=True)
        self._draw(self.run, dimmed=False)
        self.refresh()

    def _draw(self, curves: Curves, dimmed: bool) -> None:
        """One run's lines; the compared run's dimmed, named, and without its best epoch."""
        plt = self.plt
        prefix, colors = (f"{curves.name}: ", ("gray", "gray")) if dimmed else ("", ("blue+", "orange+"))
        if curves.steps:
            plt.plot(curves.steps, curves.losses, marker="braille", color=colors[0], label=f"{prefix}train loss")
        if len(curves.eval_steps) > MAX_MARKERS:  # markers that close would merge into a band
            plt.plot(curves.eval_steps, curves.eval_losses, marker="braille", color=colors[1], label=f"{prefix}eval loss")
        elif curves.eval_steps:
            plt.plot(curves.eval_steps, curves.eval_losses, marker="braille", color=colors[1])
            plt.scatter(curves.eval_steps, curves.eval_losses, marker="◆", color=colors[1], label=f"{prefix}eval loss")
        best = curves.best_eval()
        if best is not None and not dimmed:
            step, epoch = best
            plt.vline(step, "green")
            right_half = step > self.axes()[0] / 2
            plt.text(f"best epoch {epoch:g} " if right_half else f" best epoch {epoch:g}", step,
                     min(curves.eval_losses) / 2, color="green", alignment="right" if right_half else "left")
