"""`qlora-tutor doctor`: check this machine for the labs. Exit code 1 only when a check FAILs."""

from __future__ import annotations

import argparse

from rich.console import Console


def register(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser("doctor", help="check Python, GPU, CUDA and libraries for the labs",
                          description="Check this machine; one line per check with a fix hint. "
                          "Exit code 1 if any check fails.")


def run(args: argparse.Namespace) -> int:
    from tutor.engine.doctor import exit_code, iter_checks
    from tutor.render.doctor import check_line

    console = Console(highlight=False)
    checks = []
    for check in iter_checks():
        checks.append(check)
        console.print(check_line(check), soft_wrap=True)
    return exit_code(checks)
