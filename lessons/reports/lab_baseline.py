"""lab-baseline in print: the models the lab knows by name (loading one needs the TUI or
`qlora-tutor generate`)."""

from __future__ import annotations

from rich.table import Table

from tutor.engine.presets import PRESETS


def presets_table() -> Table:
    table = Table(title="lab-baseline: model presets (or pass any hub id / local folder)")
    for column in ("preset", "hub id", "about"):
        table.add_column(column)
    for preset in PRESETS.values():
        about = ("TEACHING MODEL: " if preset.teaching else "") + preset.description
        table.add_row(preset.name, preset.hub_id or "(built locally)", about)
    return table


REPORTS = {"LabBaselinePanel": presets_table}
