"""Where a run is: a progress bar plus step, epoch, ETA, tokens/s, the last step's loss and
the latest held-out loss and perplexity, each named (two different figures, both "loss")."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar

from tutor.units import human_duration
from tutor.ui.widgets.live_text import LiveText


class RunProgress(Vertical):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._line = "no run yet"
        self._status = ""

    def compose(self) -> ComposeResult:
        # Hidden until the first step: an empty bar would animate (and repaint) forever.
        bar = ProgressBar(show_eta=False, id="run-progress-bar")
        bar.display = False
        yield bar
        yield LiveText(self._line, id="run-progress-text")
        yield LiveText("", id="run-progress-eval")

    def apply(self, events: list[dict]) -> None:
        progress = [e for e in events if e.get("type") == "progress"]
        if progress:
            self._show(progress[-1])
        evals = [e for e in events if e.get("type") == "eval"]
        if evals:
            last = evals[-1]
            self.query_one("#run-progress-eval", LiveText).show(
                f"held-out samples, epoch {last['epoch']:g}: eval loss {last['eval_loss']:.4f} · "
                f"eval perplexity {last['perplexity']:,.1f}")
        ends = [e for e in events if e.get("type") == "end"]
        if ends:
            self._status = str(ends[-1].get("status"))
        if progress or ends:
            self._render_text()

    def clear(self) -> None:
        self.query_one(ProgressBar).display = False
        self._line, self._status = "starting…", ""
        self.query_one("#run-progress-eval", LiveText).show("")
        self._render_text()

    def _render_text(self) -> None:
        status = f"  [b]{self._status}[/b]" if self._status else ""
        self.query_one("#run-progress-text", LiveText).show(self._line + status)

    def _show(self, event: dict) -> None:
        step, total = event.get("step") or 0, event.get("total_steps")
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(total=total, progress=step)
        parts = [f"step {step}/{total or '?'}"]
        if event.get("epoch") is not None:
            parts.append(f"epoch {event['epoch']:.2f}")
        if event.get("eta_s") is not None:
            parts.append(f"ETA {human_duration(event['eta_s'])}")
        if event.get("tokens_per_s") is not None:
            parts.append(f"{event['tokens_per_s']:,.0f} tokens/s")
        if event.get("loss") is not None:
            parts.append(f"last step loss {event['loss']:.4f}")
        self._line = " · ".join(parts)
