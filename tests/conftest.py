"""Shared fixtures: every test gets its own tutor home; hub access is off."""

from __future__ import annotations

import os
import time
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Jobs queue machine-wide (tutor.engine.gpu_queue): tests, module-scoped fixtures included, use a
# queue of their own with room for jobs side by side, never the machine's.
os.environ.setdefault("QLORA_TUTOR_QUEUE", tempfile.mkdtemp(prefix="qlora-tutor-test-queue-"))
os.environ.setdefault("QLORA_TUTOR_CPU_SLOTS", "8")


@pytest.fixture(autouse=True)
def tutor_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty data home for each test, so progress and runs never leak between tests."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("QLORA_TUTOR_HOME", str(home))
    monkeypatch.setenv("QLORA_TUTOR_QUEUE", str(tmp_path / "gpu-queue"))
    return home


@pytest.fixture(autouse=True)
def fake_jobs():
    """Fake jobs (tests/fakes.py) live in a module-wide registry; each test starts with none."""
    yield
    from fakes import forget_all_jobs

    forget_all_jobs()


async def wait_until(pilot, condition, timeout: float = 30.0, shows=None) -> None:
    """Let the app under test run until `condition()` holds: a wait on state, never a fixed
    sleep, so a loaded machine only makes a test slower, not red. Fails after `timeout`,
    saying where it waited and, if given, what `shows()` returns (what the screen shows)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            where = f"{condition.__code__.co_filename}:{condition.__code__.co_firstlineno}"
            pytest.fail(f"timed out after {timeout:.0f} s waiting at {where}" + (f"; it shows: {shows()}" if shows else ""))
        await pilot.pause(0.05)


async def click_in_view(pilot, selector: str, timeout: float = 30.0) -> None:
    """Scroll a widget into view, then click it once the layout has caught up, until the click
    lands on it. A scroll is laid out a frame later, and Pilot reads the widget's place before
    pausing to send the click: under load the lesson scrolled in between and the click hit
    whatever had moved there (the cancel test's flake). Stale places are caught by requiring
    the same on-screen region on two reads a pause apart; a miss is retried."""
    widget = pilot.app.screen.query_one(selector)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        widget.scroll_visible(animate=False, immediate=True)
        await pilot.pause()
        before = widget.region
        await pilot.pause()
        if before == widget.region and pilot.app.screen.region.contains_region(before):
            if await pilot.click(widget):
                return
    pytest.fail(f"could not click {selector}: it stayed off screen or covered for {timeout:.0f} s")


async def settle(app, pilot, rounds: int = 30) -> None:
    """Wait until the screen stops changing: heavy panels compute in threads, post their result,
    and the new content is laid out a frame later (under load, later still). The screenshot
    is the state: two equal ones in a row mean every pending update has landed."""
    from lessons.panels.common import COMPUTING

    await wait_until(pilot, lambda: not any(
        COMPUTING.plain in str(getattr(result, "content", "")) for result in app.screen.query("#result")),
        timeout=120)  # a panel still computing (its thread may queue behind another's heavy work)
    previous = None
    for _ in range(rounds):
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        shot = app.export_screenshot()
        if shot == previous:
            return
        previous = shot
