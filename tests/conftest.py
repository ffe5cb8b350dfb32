"""Shared fixtures: every test gets its own tutor home; the tiny model is built once per run."""

from __future__ import annotations

import os
import time
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# One cache of the tiny teaching model for the whole test session (and across local runs).
os.environ.setdefault("QLORA_TUTOR_MODELS", str(REPO / ".work" / "models"))
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
