"""`qlora-tutor exercise list|start|check|hint|solution|watch`: write QLoRA's pieces yourself.

The loop, as in rustlings: `start` copies an exercise into your workspace, you fill in its
TODOs in your editor, `check` (or `watch`, which re-checks on every save) runs its checks
against bitsandbytes and peft and says, for each, pass or what differs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from tutor.commands.errors import CommandError

WATCH_POLL_SECONDS = 0.5


def register(subparsers) -> None:
    parser = subparsers.add_parser("exercise", help="write QLoRA's pieces yourself, checked against the libraries",
                                   description=__doc__.split("\n\n")[1])
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("list", help="the exercises and how far you are")
    for name, help_ in (("start", "copy an exercise into your workspace and say which file to edit"),
                        ("check", "run the checks of an exercise (default: every one you started)"),
                        ("watch", "re-check an exercise every time its file is saved (Ctrl-C stops)")):
        action = actions.add_parser(name, help=help_)
        action.add_argument("name", nargs="?" if name == "check" else None, help="the exercise, e.g. absmax")
        action.add_argument("--dir", type=Path, metavar="D", help="your workspace folder (default: where you started it)")
    actions.add_parser("hint", help="the next hint for an exercise").add_argument("name")
    actions.add_parser("solution", help="the reference solution (after one failed check)").add_argument("name")


def run(args: argparse.Namespace) -> int:
    from tutor.engine.exercises import ExerciseError

    try:
        return ACTIONS[args.action](args)
    except ExerciseError as exc:
        raise CommandError.from_lab(exc) from None


def cmd_list(args: argparse.Namespace) -> int:
    from tutor.engine.exercises import load_exercises, status
    from tutor.engine.progress import exercises_passed

    for exercise in load_exercises():
        print(f"{exercise.order:>2}  {exercise.slug:<14} {status(exercise):<12} {exercise.title}")
    passed, total = exercises_passed()
    print(f"\n{passed}/{total} passing. Start one with: qlora-tutor exercise start NAME")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    from tutor.engine.exercises import find_exercise, start

    exercise = find_exercise(args.name)
    file, created = start(exercise, args.dir)
    print(f"{'Copied' if created else 'Already started; kept'} {exercise.title}: edit {file}")
    print(f"Then: qlora-tutor exercise check {exercise.slug}  (or `watch` to re-check on every save)")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from tutor.engine.exercises import NOT_STARTED, check_and_record, find_exercise, load_exercises, status

    if args.name:
        exercises = [find_exercise(args.name)]
    else:
        exercises = [e for e in load_exercises() if status(e) != NOT_STARTED]
        if not exercises:
            raise CommandError("no exercise started yet: qlora-tutor exercise start absmax")
    all_passed = True
    for exercise in exercises:
        report = check_and_record(exercise, args.dir)
        print_report(exercise, report)
        all_passed = all_passed and report.passed
    return 0 if all_passed else 1


def print_report(exercise, report) -> None:
    for result in report.results:
        mark = "PASS" if result.passed else "FAIL"
        message = "" if result.passed else "\n      " + result.message.replace("\n", "\n      ")
        print(f"  {mark}  {result.check}{message}")
    verdict = "all checks pass" if report.passed else "not yet: fix the first FAIL and check again"
    print(f"{exercise.slug}: {verdict}")


def cmd_hint(args: argparse.Namespace) -> int:
    from tutor.engine.exercises import find_exercise, next_hint

    exercise = find_exercise(args.name)
    number, text = next_hint(exercise)
    print(f"Hint {number}/{len(exercise.hints)} for {exercise.slug}: {text}")
    return 0


def cmd_solution(args: argparse.Namespace) -> int:
    from tutor.engine.exercises import find_exercise, solution_text

    print(solution_text(find_exercise(args.name)), end="")
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    """Check now, then again whenever the file's modification time or size changes."""
    from tutor.engine.exercises import check_and_record, file_stamp, find_exercise, learner_file

    exercise = find_exercise(args.name)
    file = learner_file(exercise, args.dir)
    if not file.exists():
        raise CommandError(f"{file} does not exist: qlora-tutor exercise start {exercise.slug}")
    print(f"Watching {file}: save it to re-check, Ctrl-C to stop.")
    seen = None
    while True:
        stamp = file_stamp(file)
        if stamp != seen:
            seen = stamp
            print_report(exercise, check_and_record(exercise, args.dir))
        time.sleep(WATCH_POLL_SECONDS)


ACTIONS = {"list": cmd_list, "start": cmd_start, "check": cmd_check, "hint": cmd_hint, "solution": cmd_solution,
           "watch": cmd_watch}
