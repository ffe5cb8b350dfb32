"""The help overlay: every key that works on the screen below, plus a few tips."""

from __future__ import annotations

from rich.table import Table
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

TIPS = """\
[b]Ctrl+P[/b] opens the command palette: type part of a lesson's name to jump to it.
[b]Tab[/b] / [b]Shift+Tab[/b] move between quiz answers and buttons; arrows and PgUp/PgDn scroll.
Your progress is saved as you go; [b]qlora-tutor progress[/b] shows it from the shell.
[b]qlora-tutor show SLUG[/b] prints a lesson as plain text (for piping or screen readers)."""


def declared_actions(node) -> set[str]:
    """Actions bound in the node's own class (not Textual's defaults for every screen)."""
    return {b.action if isinstance(b, Binding) else b[1] for b in type(node).BINDINGS}


def keys_table(screen: Screen) -> Table:
    """The tutor's keys on this screen (app-wide and the screen's own), one row per action."""
    keys: dict[str, list[str]] = {}
    for active in screen.active_bindings.values():
        binding, node = active.binding, active.node
        if isinstance(node, (App, Screen)) and binding.action in declared_actions(node) | {"command_palette"}:
            keys.setdefault(binding.description, []).append(screen.app.get_key_display(binding))
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for description, displays in keys.items():
        table.add_row(", ".join(dict.fromkeys(displays)), description)
    return table


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark", "dismiss", "Close", key_display="esc")]

    def __init__(self, below: Screen) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help", classes="dialog"):
            yield Static("Keys  [dim]Esc closes[/dim]", classes="dialog-title")
            yield Static(keys_table(self.below))
            yield Static(TIPS, id="tips")
