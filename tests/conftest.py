"""Shared fixtures: every test gets its own tutor home; hub access is off."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def tutor_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty data home for each test, so progress and runs never leak between tests."""
    home = tmp_path / "home"
    monkeypatch.setenv("QLORA_TUTOR_HOME", str(home))
    return home
