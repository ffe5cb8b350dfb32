"""`qlora-tutor train`: run the lab's train job headless and show its events.

The command starts the same child job the lab screens start and tails its events: a rich
progress bar on a terminal, plain lines otherwise, raw JSON lines with --json. Ctrl-C
cancels the job cleanly (the adapter trained so far is saved); a second Ctrl-C forces it.
Every RunConfig field is an option (`--lora-r`, `--learning-rate`, ...), generated from the
dataclass so the CLI and the config file can never drift apart.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from dataclasses import fields

from tutor.commands.errors import CommandError
from tutor.engine.events import RunStatus, describe, exit_code, status_of
from tutor.render.events import event_line

SHORT_FLAGS = {"learning_rate": "--lr"}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="fine-tune with QLoRA headless (same job as the lab)",
        description="Load the model in 4 bits, answer the prompt, train a LoRA adapter, answer again.",
    )
    add_job_options(parser)
    add_config_options(parser, exclude={"adapter"})


def add_job_options(parser: argparse.ArgumentParser) -> None:
    """What every command that starts a job takes besides the run settings."""
    parser.add_argument("--config", metavar="FILE.toml", help="start from this config (options override it)")
    parser.add_argument("--output", metavar="DIR", help="run folder (must be new or empty); default: a new one under the runs folder")
    parser.add_argument("--json", action="store_true", help="print the raw events as JSON lines")


def run(args: argparse.Namespace) -> int:
    return start_and_follow("train", config_from_args(args), args)


def add_config_options(parser: argparse.ArgumentParser, only=None, exclude=()) -> None:
    """One option per RunConfig field, with the field's help text; default None = keep."""
    from tutor.engine.config import RunConfig

    group = parser.add_argument_group("run settings (default: the QLoRA notebook's recipe)")
    for f in fields(RunConfig):
        if (only and f.name not in only) or f.name in exclude:
            continue
        flags = ["--" + f.name.replace("_", "-")]
        if f.name in SHORT_FLAGS:
            flags.append(SHORT_FLAGS[f.name])
        help_ = f"{f.metadata['help']} (default: {getattr(RunConfig, f.name, f.default)!r})"
        if f.type == "bool":
            group.add_argument(*flags, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_)
        else:
            converter = {"int": whole_number, "float": number, "int | str": whole_number_or_auto}.get(f.type, str)
            group.add_argument(*flags, dest=f.name, type=converter, default=None, metavar=f.name.upper(), help=help_)


def config_from_args(args: argparse.Namespace):
    """The --config file (or the defaults) with every given option applied, validated.
    Renamed values (`--recipe seed`) take their new names, with a line on stderr saying so."""
    from tutor.engine.config import RENAMED_VALUES, ConfigError, RunConfig, current_value
    from tutor.engine.errors import LabError
    from tutor.engine.recipes import SETTINGS, apply_recipe

    notes: list[str] = []
    try:
        config = RunConfig.load(args.config, notes) if getattr(args, "config", None) else RunConfig()
    except LabError as exc:
        raise CommandError.from_lab(exc) from None
    for name in (n for n in RENAMED_VALUES if getattr(args, n, None) is not None):
        value, note = current_value(name, getattr(args, name))
        setattr(args, name, value)
        if note:
            notes.append(note)
    for note in dict.fromkeys(notes):
        print(f"qlora-tutor: {note}", file=sys.stderr)
    if getattr(args, "recipe", None) in SETTINGS:  # first, so the other options override it
        config = apply_recipe(config, args.recipe)
    for f in fields(RunConfig):
        value = getattr(args, f.name, None)
        if value is not None:
            setattr(config, f.name, value)
    try:
        return config.check()
    except ConfigError as exc:
        raise CommandError("invalid settings:\n" + "\n".join(f"  --{e.field.replace('_', '-')}: {e.message}" for e in exc.errors)) from None


def start_and_follow(kind: str, config, args: argparse.Namespace) -> int:
    """Start a job, stream its events until `end`, cancel it on Ctrl-C; exit code by status."""
    from tutor.engine.errors import LabError
    from tutor.engine.jobs import SubprocessRunner

    try:
        handle = SubprocessRunner().start(kind, config, args.output)
    except LabError as exc:
        raise CommandError.from_lab(exc) from None
    return follow(handle, json_mode=args.json)


def follow(handle, json_mode: bool, owns_job: bool = True) -> int:
    """Print a job's events (replaying any already written) until it ends.

    The command that started the job owns it: Ctrl-C cancels it (the adapter trained so far
    is saved), a second Ctrl-C forces it, and a SIGTERM to this command cancels it too before
    leaving. A viewer (`runs NAME`) never touches the job: Ctrl-C only stops watching.
    """
    from tutor.engine.jobs import lost_reason

    printer = JsonPrinter() if json_mode else (RichPrinter() if sys.stdout.isatty() else PlainPrinter())
    if not json_mode:
        print(f"run folder: {handle.run_dir}", file=sys.stderr)
    tail = handle.tail()
    status = RunStatus.RUNNING
    previous_sigterm = signal.signal(signal.SIGTERM, _raise_terminated) if owns_job else None
    try:
        with printer:
            while status is RunStatus.RUNNING:
                try:
                    alive = handle.is_running()  # checked first: events written before exit are read below
                    batch = tail.read()
                    for event in batch:
                        printer.show(event)
                        if event["type"] == "error":
                            print_error(event)
                    status = status_of(batch, alive)
                    if status is RunStatus.LOST:
                        print(f"qlora-tutor: the job stopped without finishing ({lost_reason(handle.run_dir)}); "
                              f"see {handle.run_dir / 'run.log'}", file=sys.stderr)
                    elif status is RunStatus.RUNNING:
                        time.sleep(0.2)
                except KeyboardInterrupt:
                    if not owns_job:
                        print(f"\nstopped watching; the run goes on (qlora-tutor runs {handle.run_dir.name} --cancel "
                              "stops it)", file=sys.stderr)
                        return 130
                    forced = handle.cancel_requests > 0
                    handle.cancel()
                    print("\nforcing the job to stop now: only an adapter already saved is kept" if forced else
                          "\ncancelling: the job stops after this step and saves the adapter (Ctrl-C again to force)",
                          file=sys.stderr)
    except Terminated:
        if handle.cancel_requests == 0:
            handle.cancel()
        print(f"qlora-tutor: terminated; the job was asked to stop after this step and save the adapter "
              f"(qlora-tutor runs {handle.run_dir.name} follows it)", file=sys.stderr)
        return 143
    finally:
        if owns_job:
            signal.signal(signal.SIGTERM, previous_sigterm)
    return exit_code(status)


class Terminated(Exception):
    """This command got SIGTERM while following a job it started."""


def _raise_terminated(signum, frame):
    raise Terminated()


def print_error(event: dict) -> None:
    print(f"qlora-tutor: {event.get('message')}", file=sys.stderr)
    if event.get("hint"):
        print(f"  hint: {event['hint']}", file=sys.stderr)


class JsonPrinter:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def show(self, event: dict) -> None:
        print(json.dumps(event), flush=True)


class PlainPrinter(JsonPrinter):
    """One readable line per event; answers are printed whole, not token by token; errors go
    to stderr alone (print_error)."""

    def show(self, event: dict) -> None:
        if event["type"] != "error" and (line := describe(event)):
            print(line, flush=True)


class RichPrinter(JsonPrinter):
    """A progress bar for training; answers stream in as they are generated."""

    def __enter__(self):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console()
        self.progress = Progress(
            TextColumn("[bold]training"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TextColumn("{task.fields[detail]}"), TimeRemainingColumn(), console=self.console,
        )
        self.task = None
        self.streaming = False
        return self

    def __exit__(self, *exc):
        self.progress.stop()
        return False

    def show(self, event: dict) -> None:
        kind = event["type"]
        if kind == "progress":
            detail = f"step loss {event['loss']:.3f}" + (f"  {event['tokens_per_s']:.0f} tok/s" if event.get("tokens_per_s") else "")
            if self.task is None:
                self.progress.start()
                self.task = self.progress.add_task("train", total=event["total_steps"], detail=detail)
            self.progress.update(self.task, completed=event["step"], detail=detail)
        elif kind == "token":
            if not self.streaming:
                self.console.print(f"[bold]{event['stream']}:[/bold] ", end="")
                self.streaming = True
            self.console.print(event["text"], end="", markup=False, highlight=False)
        elif kind == "generation":
            if not self.streaming:  # a replayed run without token events
                self.console.print(f"[bold]{event['stream']}:[/bold] {event['text']}", markup=False)
            else:
                self.console.print()
            self.streaming = False
        elif kind != "error" and (line := event_line(event)):
            self.console.print(line, highlight=False)


def whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def whole_number_or_auto(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a whole number, got {text!r}") from None
