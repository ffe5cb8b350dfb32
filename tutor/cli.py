"""The `qlora-tutor` command: the TUI by default, headless subcommands beside it.

Each subcommand lives in `tutor/commands/<name>.py` with `register(subparsers)` and
`run(args) -> int`. Those modules import nothing heavy at the top, so `--help` and the TUI
start fast; torch and friends are imported inside `run` when a command needs them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from tutor import __version__
from tutor.commands.errors import CommandError
from tutor.storage import StorageError, describe

COMMANDS = ("show", "progress", "doctor", "train", "generate", "runs", "inspect", "export", "data", "plan", "serve",
            "exercise", "classroom", "fetch")


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments get one line that names the problem and where help is, not the whole
    usage block (subcommand parsers inherit the class)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from tutor.engine.lessons import load_catalog

    parser = OneLineParser(
        prog="qlora-tutor",
        description="Learn QLoRA (4-bit NF4 quantization + LoRA) in the terminal, then run it. "
        "With no COMMAND, opens the tutor (and resumes where you left off).",
        epilog="Lesson slugs: " + ", ".join(lesson.slug for lesson in load_catalog()),
    )
    parser.add_argument("--version", action="version", version=f"qlora-tutor {__version__}")
    parser.add_argument("--lesson", metavar="SLUG", help="open this lesson directly")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        before = set(sub.choices)
        importlib.import_module(f"tutor.commands.{name}").register(sub)
        for command in set(sub.choices) - before:  # `class` lives in classroom.py: a keyword is no module name
            sub.choices[command].set_defaults(module=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return run_tui(args)
        module = importlib.import_module(f"tutor.commands.{args.module}")
        code = int(module.run(args) or 0)
        sys.stdout.flush()  # here, so a reader that left (`| head -1`) is noticed inside the try
        return code
    except CommandError as exc:
        print(f"qlora-tutor: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("qlora-tutor: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return quiet_broken_pipe()
    except StorageError as exc:
        print(f"qlora-tutor: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # the disk or the filesystem refused: say which file and why
        print(f"qlora-tutor: {describe(exc)}", file=sys.stderr)
        return 1


def quiet_broken_pipe() -> int:
    """The reader left (`qlora-tutor runs | head -1`): stop without a word, as `cat` does.

    stdout is pointed at /dev/null so the interpreter's final flush cannot fail again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141  # 128 + SIGPIPE, what a shell reports for a writer killed by the pipe


def run_tui(args: argparse.Namespace) -> int:
    from tutor.engine.lessons import find_lesson
    from tutor.ui.app import create_app

    if args.lesson:
        try:
            find_lesson(args.lesson)
        except KeyError as exc:
            raise CommandError(str(exc.args[0])) from None
    app = create_app(start_lesson=args.lesson)
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
