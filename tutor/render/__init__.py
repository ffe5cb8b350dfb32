"""Rich renderables shared by the headless commands and the screens and lesson panels.

This room imports rich and the engine, never Textual: `qlora-tutor inspect`, `doctor`, `runs`
and `train` draw through it without loading the UI toolkit.
"""

from rich.table import Table
from rich.text import Text

from tutor.engine.errors import LabError


def facts_table() -> Table:
    """The two-column grid every report here uses: a bold label, then its value."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    return table


def error_text(exc: LabError) -> Text:
    """A LabError as a panel shows it: the message and its hint on one red line."""
    return Text(f"{exc}" + (f"  {exc.hint}" if exc.hint else ""), style="bold red")
