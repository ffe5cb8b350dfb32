"""lab-train in print: the QLoRA notebook's recipe, field by field (training needs the TUI or
`qlora-tutor train`)."""

from __future__ import annotations

from dataclasses import fields

from rich.console import Group
from rich.table import Table

from tutor.engine.config import RunConfig


def recipe_report() -> Group:
    """The notebook's defaults, section by section, with what each field does."""
    table = Table(title="lab-train: the QLoRA notebook's recipe (RunConfig defaults)")
    for column in ("section", "field", "default", "what it does"):
        table.add_column(column)
    defaults = RunConfig()
    for f in fields(RunConfig):
        table.add_row(f.metadata["section"], f.name, repr(getattr(defaults, f.name)), f.metadata["help"])
    return Group(table, "Start it from this lesson in the TUI (headless: qlora-tutor train).")


REPORTS = {"LabTrainPanel": recipe_report}
