"""`qlora-tutor class`: the instructor's view of the room, refreshing, or once as JSON."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from tutor.commands.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "class", help="the instructor's view: every learner, their runs, and the GPU queue",
        description="Every learner under the class root (lessons done, quiz scores, exercises passed, current "
                    "lesson, running and queued runs) and the machine's GPU queue. Refreshes until Ctrl-C.")
    parser.add_argument("--root", type=Path, help="class root (default: $QLORA_TUTOR_CLASS or <data home>/class)")
    parser.add_argument("--json", action="store_true", help="print the view once as JSON")
    parser.add_argument("--every", type=float, default=2.0, metavar="S", help="refresh every S seconds (default 2)")


def run(args: argparse.Namespace) -> int:
    from tutor.engine.classroom import room
    from tutor.paths import class_root

    root = (args.root or class_root()).expanduser()
    if not root.is_dir():
        raise CommandError(f"no class root at {root}: start `qlora-tutor serve` (or pass --root) first")
    if not args.every > 0.1:
        raise CommandError("--every must be more than 0.1 seconds")
    if args.json:
        print(json.dumps(room(root).to_json(), indent=2))
        return 0
    from rich.live import Live

    from tutor.render.classroom import room_view

    with Live(room_view(room(root)), auto_refresh=False, screen=False) as live:
        live.refresh()
        try:
            while True:
                time.sleep(args.every)
                live.update(room_view(room(root)), refresh=True)
        except KeyboardInterrupt:
            return 0
