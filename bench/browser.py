"""Drive `qlora-tutor serve` from a real browser: Debian's Chromium through Playwright.

Used by tests/test_browser.py and bench/browser_sessions.py.

The page draws the terminal on a canvas, so the text is read where it travels: the
websocket frames the app sends are fed to a pyte screen of the size the page asked for.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

CHROMIUM = os.environ.get("QLORA_TUTOR_CHROMIUM", "/usr/bin/chromium")


def require_browser():
    """Skip where no browser is installed; in CI (which installs one) that is a failure."""
    try:
        import pyte  # noqa: F401
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"browser test needs playwright and pyte: {exc}")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"no browser at {CHROMIUM}: .ci/run installs Debian's chromium")
        pytest.skip(f"no browser at {CHROMIUM}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """`qlora-tutor serve` on a loopback port, stopped on exit."""

    def __init__(self, class_root: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, QLORA_TUTOR_CLASS=str(class_root), PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tutor", "serve", "--port", str(self.port), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            assert self.process.poll() is None, self.process.stdout.read()
            assert time.monotonic() < deadline, "serve did not start listening"
            time.sleep(0.05)

    def stop(self) -> str:
        self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return out


class TerminalPage:
    """One browser page showing the app, and the screen it shows, as text."""

    def __init__(self, context) -> None:
        import pyte

        self._pyte = pyte
        self.page = context.new_page()
        self.screen = None
        self._stream = None
        self.page.on("websocket", self._on_websocket)

    def _on_websocket(self, ws) -> None:
        query = parse_qs(urlparse(ws.url).query)
        self.screen = self._pyte.Screen(int(query["width"][0]), int(query["height"][0]))
        self._stream = self._pyte.ByteStream(self.screen)
        ws.on("framereceived", lambda payload: isinstance(payload, bytes) and self._stream.feed(payload))

    def text(self) -> str:
        return "\n".join(self.screen.display) if self.screen else ""

    def wait_for_text(self, needle: str, timeout: float = 90.0) -> float:
        """Seconds until `needle` is on screen (the page's event loop runs while waiting)."""
        started = time.monotonic()
        while needle not in self.text():
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{needle!r} never appeared; the screen shows:\n{self.text()}")
            self.page.wait_for_timeout(100)
        return time.monotonic() - started

    def press(self, *keys: str) -> None:
        for key in keys:  # focus xterm's input before each key: the browser may move it on Tab
            self.page.focus("textarea.xterm-helper-textarea")  # (a click would press the app instead)
            self.page.keyboard.press(key)


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])


