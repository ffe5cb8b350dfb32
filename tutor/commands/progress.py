"""`qlora-tutor progress`: what the learner has done; `--reset` clears it."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from tutor.commands.errors import CommandError
from tutor.engine.lessons import load_catalog
from tutor.engine.progress import exercises_passed, load_progress


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("progress", help="show your progress through the lessons",
                                   description="Show (or reset) your saved progress.")
    parser.add_argument("--reset", action="store_true", help="forget all progress")


def run(args: argparse.Namespace) -> int:
    progress = load_progress()
    if args.reset and progress.not_saved:
        raise CommandError(f"cannot reset: {progress.not_saved}")
    for warning in (progress.warning, progress.not_saved):
        if warning:
            print(f"qlora-tutor: warning: {warning}", file=sys.stderr)
    console = Console()
    if args.reset:
        progress.reset()
        if progress.not_saved:
            raise CommandError(f"cannot reset: {progress.not_saved}")
        console.print(f"Progress cleared ({progress.path}).")
        return 0
    table = Table("#", "Lesson", "Slug", "Status", "Quiz", box=None, pad_edge=False)
    for lesson in load_catalog():
        entry = progress.of(lesson.slug)
        quiz = f"{entry.best_score}/{entry.quiz_total}" if entry.best_score is not None else ""
        status = "coming soon" if lesson.coming else entry.status
        table.add_row(str(lesson.order), lesson.title, lesson.slug, status, quiz)
    console.print(table)
    for lesson in load_catalog():
        if measured := progress.of(lesson.slug).measured:
            console.print(f"\n{lesson.title}: {measured}")
    passed, total = exercises_passed()
    console.print(f"\nExercises: {passed}/{total} passing (qlora-tutor exercise list)")
    if progress.last_lesson:
        console.print(f"\nResume: qlora-tutor --lesson {progress.last_lesson}")
    console.print(f"[dim]Saved in {progress.path}[/dim]")
    return 0
