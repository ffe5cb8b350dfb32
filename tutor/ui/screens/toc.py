"""The table of contents: a pop-up syllabus to jump to any lesson or any of its sections."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from tutor.ui.widgets.syllabus import Syllabus


class ContentsScreen(ModalScreen):
    BINDINGS = [Binding("escape,t", "dismiss", "Close", key_display="esc")]

    def __init__(self, current: str | None) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="contents", classes="dialog"):
            yield Static("Contents  [dim]Enter opens, Esc closes[/dim]", classes="dialog-title")
            yield Syllabus(self.app.catalog, self.app.progress, self.current or self.app.progress.last_lesson,
                           sections=True)
