"""The run's story in words: phases, log lines, warnings, answers, errors with their hint."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import RichLog

from tutor.engine.events import loss_figures
from tutor.ui.units import human_bytes, human_duration


def describe(event: dict) -> Text | None:
    """One log line for an event; None for events the other panes show (steps, tokens)."""
    kind = event.get("type")
    if kind == "phase":
        message = event.get("message") or ""
        return Text.assemble(("▶ ", "bold"), (str(event.get("phase")), "bold"), f"  {message}")
    if kind == "log":
        return Text(str(event.get("message", "")))
    if kind == "warning":
        return Text(f"warning: {event.get('message', '')}", style="yellow")
    if kind == "model":
        return Text(
            f"model {event.get('name')}: {event.get('params') or 0:,} params, "
            f"{human_bytes(event.get('footprint_bytes'))} on {event.get('device')}"
        )
    if kind == "generation":
        return Text.assemble((f"[{event.get('stream')} answer] ", "bold cyan"), str(event.get("text", "")))
    if kind == "summary":
        return _summary_line(event)
    if kind == "error":
        line = Text(f"error ({event.get('error_type')}): {event.get('message')}", style="bold red")
        if event.get("hint"):
            line.append(f"\nhint: {event['hint']}", style="red")
        return line
    if kind == "end":
        return Text(f"■ run {event.get('status')}", style="bold")
    return None


def _summary_line(event: dict) -> Text:
    line = (
        f"{event.get('global_step')} steps, {loss_figures(event)}, "
        f"{human_duration(event.get('train_runtime'))}"
    )
    if event.get("adapter_dir"):
        line += f"; adapter saved to {event['adapter_dir']}"
    if event.get("cancelled"):
        return Text(f"cancelled after {line} (the adapter holds what was trained so far)", style="yellow")
    return Text(f"trained {line}", style="green")


class RunLog(RichLog):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, wrap=True, markup=False, max_lines=2000)

    def apply(self, events: list[dict]) -> None:
        for event in events:
            if (line := describe(event)) is not None:
                self.write(line)
