"""The doctor's checks as lines: status, name, detail and the hint that fixes it."""

from __future__ import annotations

from rich.text import Text

from tutor.engine.doctor import FAIL, OK, WARN, Check

STATUS_STYLE = {OK: "green", WARN: "yellow", FAIL: "bold red"}


def check_line(check: Check) -> Text:
    """One check as a styled line; `qlora-tutor doctor` prints it, the doctor screen mounts it."""
    line = Text.assemble((f"{check.status:<5}", STATUS_STYLE[check.status]), f"{check.name:<13}", check.detail)
    if check.hint:
        line.append(f"  → {check.hint}", style="dim")
    return line
