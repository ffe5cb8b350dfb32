"""One generated answer, growing as its tokens arrive."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.widgets import Static


class StreamView(Static):
    """Shows the `token` events of one stream (`base` or `tuned`).

    A batch of tokens becomes one update, not one refresh per token; the final
    `generation` event replaces the text, so a missed token never lingers.
    """

    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    def __init__(self, stream: str, title: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.stream = stream
        self.border_title = title
        self.text = ""

    def apply(self, events: list[dict]) -> None:
        text = self.text
        for event in events:
            if event.get("stream") != self.stream:
                continue
            if event.get("type") == "token":
                text += str(event.get("text", ""))
            elif event.get("type") == "generation":
                text = str(event.get("text", ""))
        if text != self.text:
            self.text = text
            self.update(Text(text))

    def clear(self) -> None:
        self.text = ""
        self.update("")
