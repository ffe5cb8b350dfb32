"""`qlora-tutor serve`: the same app in a browser, one app process per connection.

textual-serve starts the command for each browser connection. Around it this adds what a
room needs: a token (asked for as `?token=`, then kept in a cookie so it leaves the
address bar and no log line holds it), a learner name (asked on a first page, or
`?learner=NAME`) that picks the learner's own progress home under the class root, and no
access log (its lines would carry the query). Jobs started from the browser are ordinary
detached jobs, so a learner who reconnects finds them running.
"""

from __future__ import annotations

import contextvars
import hashlib
import hmac
import html
import ipaddress
import logging
import re
import shlex
import sys
from pathlib import Path

from aiohttp import web
from textual_serve.server import Server

from tutor.paths import ENV_HOME

TOKEN_COOKIE = "qlora_tutor_token"
LEARNER_COOKIE = "qlora_tutor_learner"
LEARNER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_request_command: contextvars.ContextVar[str | None] = contextvars.ContextVar("command", default=None)

NAME_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>qlora-tutor</title>
<style>body{{font-family:sans-serif;background:#111;color:#eee;display:flex;justify-content:center;
margin-top:15vh}}input,button{{font-size:1.2em;padding:.3em}}.error{{color:#f77}}</style></head>
<body><form method="get" action="/"><h1>qlora-tutor</h1>
<p>Your name keeps your progress apart from everyone else's in this room.</p>
<p class="error">{error}</p>
<label>Name <input name="learner" id="learner" autofocus pattern="[A-Za-z0-9][A-Za-z0-9_.\\-]{{0,31}}"></label>
<button type="submit" id="start">Start</button>
<p><small>Letters, digits, dot, dash and underscore; up to 32 characters.</small></p></form></body></html>"""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def valid_learner(name: str) -> bool:
    """A name is a folder under the class root: no separators, no dot-dot, nothing hidden."""
    return bool(LEARNER_NAME.match(name)) and name not in {".", ".."}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TutorServer(Server):
    """textual-serve's server with a token, learner homes and no access log."""

    def __init__(self, host: str, port: int, class_root: Path, token: str | None = None,
                 public_url: str | None = None) -> None:
        self.class_root = Path(class_root)
        self.token_digest = _digest(token) if token else None
        self._app_command = f"{shlex.quote(sys.executable)} -m tutor"
        super().__init__(command=self._app_command, host=host, port=port, title="qlora-tutor",
                         public_url=public_url)

    @property
    def command(self) -> str:
        """The app command for the connection being handled (each learner has their own home)."""
        return _request_command.get() or self._app_command

    @command.setter
    def command(self, value: str) -> None:
        self._app_command = value

    def learner_command(self, learner: str) -> str:
        home = self.class_root / learner
        home.mkdir(parents=True, exist_ok=True)
        return f"{ENV_HOME}={shlex.quote(str(home))} exec {self._app_command}"

    def initialize_logging(self) -> None:
        super().initialize_logging()
        logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # its lines carry the query

    async def on_startup(self, app: web.Application) -> None:
        self.console.print(f"qlora-tutor is served on {self.public_url} (learners' homes under {self.class_root})")
        self.console.print("[cyan]Press Ctrl+C to stop.")

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        if self.token_digest is not None:
            offered = request.query.get("token")
            if offered is not None:
                if not hmac.compare_digest(_digest(offered), self.token_digest):
                    raise web.HTTPForbidden(text="qlora-tutor: that token is wrong: use the address the instructor gave")
                response = web.HTTPFound(self._without(request, "token"))
                response.set_cookie(TOKEN_COOKIE, self.token_digest, httponly=True, samesite="Strict")
                raise response
            cookie = request.cookies.get(TOKEN_COOKIE, "")
            if not hmac.compare_digest(cookie, self.token_digest):
                raise web.HTTPForbidden(text="qlora-tutor: this server needs its token: open the address "
                                             "the instructor gave (it ends in ?token=...)")
        if request.path.startswith("/static"):
            return await handler(request)
        if "learner" in request.query:
            name = request.query["learner"].strip()
            if not valid_learner(name):
                return web.Response(text=NAME_PAGE.format(error=html.escape(
                    f"'{name}' can't be a name here: use letters, digits, '.', '-' or '_'.")), content_type="text/html")
            response = web.HTTPFound(self._without(request, "learner"))
            response.set_cookie(LEARNER_COOKIE, name, httponly=True, samesite="Strict")
            raise response
        learner = request.cookies.get(LEARNER_COOKIE, "")
        if not valid_learner(learner):
            if request.path == "/":
                return web.Response(text=NAME_PAGE.format(error=""), content_type="text/html")
            raise web.HTTPForbidden(text="qlora-tutor: give your name on the first page first")
        token = _request_command.set(self.learner_command(learner))
        try:
            return await handler(request)
        finally:
            _request_command.reset(token)

    @staticmethod
    def _without(request: web.Request, key: str) -> str:
        query = {k: v for k, v in request.query.items() if k != key}
        return str(request.rel_url.with_query(query))
