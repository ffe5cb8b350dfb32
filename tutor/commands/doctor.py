"""`qlora-tutor doctor`: check this machine for the labs. Exit code 1 only when a check FAILs."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.text import Text

STATUS_STYLE = {"OK": "green", "WARN": "yellow", "FAIL": "bold red"}


def register(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser("doctor", help="check Python, GPU, CUDA and libraries for the labs",
                          description="Check this machine; one line per check with a fix hint. "
                          "Exit code 1 if any check fails.")


def check_line(check) -> Text:
    """One `tutor.engine.doctor.Check` as a styled line: status, name, detail, hint."""
    line = Text.assemble((f"{check.status:<5}", STATUS_STYLE[check.status]), f"{check.name:<13}",
                         check.detail)
    if check.hint:
        line.append(f"  → {check.hint}", style="dim")
    return line


def run(args: argparse.Namespace) -> int:
    from tutor.engine.doctor import exit_code, iter_checks

    console = Console(highlight=False)
    checks = []
    for check in iter_checks():
        checks.append(check)
        console.print(check_line(check), soft_wrap=True)
    return exit_code(checks)
