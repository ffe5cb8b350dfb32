"""A run's events as styled lines: the words of tutor.engine.events.describe, coloured by what
each event is. The TUI's run log and `qlora-tutor train` / `runs` on a terminal print these."""

from __future__ import annotations

from rich.text import Text

from tutor.engine.events import describe

STYLES = {"phase": "bold", "warning": "yellow", "generation": "cyan", "error": "bold red", "end": "bold"}


def event_line(event: dict) -> Text | None:
    """None for an event with no line of its own (a token)."""
    if (line := describe(event)) is None:
        return None
    if event["type"] == "summary":
        return Text(line, style="yellow" if event["cancelled"] else "green")
    return Text(line, style=STYLES.get(event["type"], ""))
