"""lab-compare in print: the adapters trained so far, with their files and sizes; the panel
shows the same table for the adapter it compares."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.table import Table

from tutor.engine.jobs import ADAPTER_DIR, list_runs
from tutor.units import human_bytes


def adapter_files(run_dir: Path) -> list[tuple[str, int]]:
    """The files of a run's saved adapter with their sizes in bytes; empty if none saved."""
    folder = Path(run_dir) / ADAPTER_DIR
    if not folder.is_dir():
        return []
    return sorted((p.name, p.stat().st_size) for p in folder.iterdir() if p.is_file())


def files_table(run_dir: Path) -> Table:
    table = Table(title=f"{run_dir.name}/{ADAPTER_DIR}", title_justify="left")
    table.add_column("file")
    table.add_column("size", justify="right")
    for name, size in adapter_files(run_dir):
        table.add_row(name, human_bytes(size))
    return table


def trained_adapters_report() -> Group:
    """The newest five train runs that saved an adapter."""
    runs = [info for info in list_runs() if info.kind == "train" and adapter_files(info.run_dir)]
    if not runs:
        return Group("No trained adapter yet: run lab-train first, then compare here.")
    return Group(*(files_table(info.run_dir) for info in runs[:5]))


REPORTS = {"LabComparePanel": trained_adapters_report}
