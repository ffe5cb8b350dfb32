"""Every place on disk the tutor reads or writes, decided in one module.

`QLORA_TUTOR_HOME` overrides the per-user data directory (tests, workshops, shared boxes).
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_path

ENV_HOME = "QLORA_TUTOR_HOME"


def data_home() -> Path:
    """The root of everything the tutor stores for this user."""
    override = os.environ.get(ENV_HOME)
    root = Path(override).expanduser() if override else user_data_path("qlora-tutor", appauthor=False)
    root.mkdir(parents=True, exist_ok=True)
    return root


def progress_file() -> Path:
    return data_home() / "progress.json"


def runs_dir() -> Path:
    """Each lab run (train, generate, compare) gets a folder in here."""
    path = data_home() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path
