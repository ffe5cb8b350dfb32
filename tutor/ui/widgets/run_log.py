"""The run's story in words: phases, log lines, warnings, answers, errors with their hint."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import RichLog

from tutor.engine.events import describe

# Steps and tokens have panes of their own; the log tells the rest of the story.
SHOWN_ELSEWHERE = frozenset({"progress", "token"})
STYLES = {"phase": "bold", "warning": "yellow", "generation": "cyan", "error": "bold red", "end": "bold"}


def styled(event: dict) -> Text | None:
    """The event's line as tutor.engine.events describes it, coloured by what it is."""
    if event["type"] in SHOWN_ELSEWHERE or (line := describe(event)) is None:
        return None
    if event["type"] == "summary":
        return Text(line, style="yellow" if event["cancelled"] else "green")
    return Text(line, style=STYLES.get(event["type"], ""))


class RunLog(RichLog):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        # RichLog renders at least 78 columns wide by default, which cut lines at 80 columns
        super().__init__(id=id, classes=classes, wrap=True, markup=False, max_lines=2000, min_width=20)

    def apply(self, events: list[dict]) -> None:
        for event in events:
            if (line := styled(event)) is not None:
                self.write(line)
