"""`qlora-tutor runs`: list lab runs (running and finished), or replay/follow one."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tutor.commands.errors import CommandError


def register(subparsers) -> None:
    parser = subparsers.add_parser("runs", help="list lab runs, or follow one by name")
    parser.add_argument("name", nargs="?", help="a run's folder name (or path): replay its events, follow it if running")
    parser.add_argument("--root", metavar="DIR", help="look in this folder instead of the user's runs folder")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--cancel", action="store_true",
                        help="with NAME: ask the run to stop after its current step and save the adapter "
                        "(watching alone never stops a run; Ctrl-C only stops watching)")


def run(args: argparse.Namespace) -> int:
    from tutor import paths
    from tutor.engine.errors import LabError
    from tutor.engine.events import loss_figures
    from tutor.engine.jobs import attach, list_runs

    root = Path(args.root).expanduser() if args.root else paths.runs_dir()
    if args.name:
        from tutor.commands.train import follow

        run_dir = Path(args.name).expanduser()
        run_dir = run_dir if run_dir.is_dir() else root / args.name
        try:
            handle = attach(run_dir)
        except LabError as exc:
            raise CommandError.from_lab(exc) from None
        if args.cancel:
            if not handle.is_running():
                raise CommandError(f"run {run_dir.name} is not running; nothing to cancel", code=1)
            handle.cancel()
            print(f"asked run {run_dir.name} to stop after its current step and save the adapter", file=sys.stderr)
        return follow(handle, json_mode=args.json, owns_job=args.cancel)
    if args.cancel:
        raise CommandError("--cancel needs the NAME of a run (see qlora-tutor runs)")
    runs = list_runs(root)
    if not runs:  # on stderr: with --json, stdout stays zero JSON lines for zero runs
        print(f"no runs yet in {root}; start one with `qlora-tutor train --model tiny`",
              file=sys.stderr if args.json else sys.stdout)
        return 0
    if args.json:
        for info in runs:
            print(json.dumps({
                "name": info.name, "run_dir": str(info.run_dir), "kind": info.kind, "status": info.status,
                "model": info.model, "started_at": info.started_at, "pid": info.pid,
                "summary": info.summary, "error": info.error,
            }))
        return 0
    print(f"{'RUN':<40} {'KIND':<9} {'STATUS':<10} {'MODEL':<16} {'STARTED':<17} RESULT")
    for info in runs:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.started_at))
        if info.summary:
            result = f"{info.summary['global_step']} steps, {loss_figures(info.summary)}"
        elif info.error:
            result = info.error.get("message", "")[:60]
        else:
            result = ""
        print(f"{info.name:<40} {info.kind:<9} {info.status:<10} {info.model[:16]:<16} {started:<17} {result}")
    return 0
