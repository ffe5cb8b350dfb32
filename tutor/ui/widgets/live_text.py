"""A line of text that a stream of job events rewrites, without re-laying out the screen.

Textual re-lays out the whole screen after a `Static.update` in case the text's height
changed: on a lesson screen that is tens of milliseconds, and a watched run rewrites its
status lines several times a second, on the CPU the training needs (bench/tui_vs_headless.py).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class LiveText(Static):
    def show(self, markup: str) -> None:
        """Show `markup`; nothing when it is what is shown, and no relayout when the old and
        the new text each fit on one line, so the height cannot change."""
        shown = str(self.content)
        if markup == shown:
            return
        width = self.content_size.width
        one_line = width > 0 and all(self._fits(text, width) for text in (shown, markup))
        self.update(markup, layout=not one_line)

    @staticmethod
    def _fits(markup: str, width: int) -> bool:
        text = Text.from_markup(markup)
        return "\n" not in text.plain and text.cell_len <= width
