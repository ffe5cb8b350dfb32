"""Every place on disk the tutor reads or writes, decided in one module.

`QLORA_TUTOR_HOME` overrides the per-user data directory (tests, workshops, shared boxes).
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_path

ENV_HOME = "QLORA_TUTOR_HOME"
ENV_MODELS = "QLORA_TUTOR_MODELS"
ENV_CLASS = "QLORA_TUTOR_CLASS"


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


def models_dir() -> Path:
    """Models the tutor builds itself (the tiny teaching model) are cached here.

    `QLORA_TUTOR_MODELS` moves the cache on its own, so tests that use a fresh home each
    still share one build of the tiny model.
    """
    override = os.environ.get(ENV_MODELS)
    path = Path(override).expanduser() if override else data_home() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def class_root() -> Path:
    """Where `serve` keeps one progress home per browser learner, and `class` looks.

    `QLORA_TUTOR_CLASS` moves it (for example to a folder the whole room can read)."""
    override = os.environ.get(ENV_CLASS)
    return Path(override).expanduser() if override else data_home() / "class"
