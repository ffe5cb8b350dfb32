"""The run's story in words: phases, log lines, warnings, answers, errors with their hint."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import RichLog

from tutor.render.events import event_line

# Steps and tokens have panes of their own; the log tells the rest of the story.
SHOWN_ELSEWHERE = frozenset({"progress", "token"})


class RunLog(RichLog):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        # RichLog renders at least 78 columns wide by default, which cut lines at 80 columns
        super().__init__(id=id, classes=classes, wrap=True, markup=False, max_lines=2000, min_width=20)

    def apply(self, events: list[dict]) -> None:
        for event in events:
            if event["type"] not in SHOWN_ELSEWHERE and (line := event_line(event)) is not None:
                self.write(line)
