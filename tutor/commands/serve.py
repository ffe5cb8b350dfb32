"""`qlora-tutor serve`: the tutor in a browser, for learners without an SSH client."""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path

from tutor.commands.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve the app to browsers (one app process per learner)",
        description="Serve qlora-tutor to web browsers with textual-serve. Each learner gives a name and gets "
                    "their own progress under the class root. Only this machine can connect unless --host says "
                    "otherwise; then a token is required (given with --token, or generated and printed).")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument("--token", help="the secret learners need (required beyond loopback; generated if left out)")
    parser.add_argument("--root", type=Path, help="class root: one progress home per learner "
                                                  "(default: $QLORA_TUTOR_CLASS or <data home>/class)")
    parser.add_argument("--public-url", help="the address browsers use, if not http://HOST:PORT (a proxy, say)")


def run(args: argparse.Namespace) -> int:
    from tutor.paths import class_root
    from tutor.web.server import TutorServer, is_loopback

    if not 0 < args.port < 65536:
        raise CommandError(f"--port {args.port} is not a port: use 1-65535")
    token = args.token
    if token is not None and len(token) < 8:
        raise CommandError("--token is too short to keep a room's work private: use at least 8 characters")
    if token is None and not is_loopback(args.host):
        token = secrets.token_urlsafe(12)
    root = (args.root or class_root()).expanduser().resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CommandError(f"cannot create the class root {root}: {exc.strerror}; choose another with --root")
    server = TutorServer(args.host, args.port, root, token=token, public_url=args.public_url)
    if token:
        print(f"Learners open: {server.public_url}/?token={token}")
    try:
        server.serve()
    except OSError as exc:
        raise CommandError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}; try another --port")
    return 0
