"""Every place on disk the tutor reads or writes, decided in one module.

`QLORA_TUTOR_HOME` overrides the per-user data directory (tests, workshops, shared boxes).
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_path

from tutor.storage import StorageError, reason

ENV_HOME = "QLORA_TUTOR_HOME"
ENV_MODELS = "QLORA_TUTOR_MODELS"
ENV_CLASS = "QLORA_TUTOR_CLASS"


def home_path() -> Path:
    """Where the data home is, without creating it (reading needs no write access)."""
    override = os.environ.get(ENV_HOME)
    return Path(override).expanduser() if override else user_data_path("qlora-tutor", appauthor=False)


def data_home() -> Path:
    """The root of everything the tutor stores for this user, created if missing."""
    return _folder(home_path())


def progress_file() -> Path:
    return home_path() / "progress.json"


def runs_dir() -> Path:
    """Each lab run (train, generate, compare) gets a folder in here."""
    return _folder(data_home() / "runs")


def models_dir() -> Path:
    """Models the tutor builds itself (random-weight models of a preset's shape) are cached here.

    `QLORA_TUTOR_MODELS` moves the cache on its own, so tests that use a fresh home each
    can still share one build.
    """
    override = os.environ.get(ENV_MODELS)
    return _folder(Path(override).expanduser() if override else data_home() / "models")


def _folder(path: Path) -> Path:
    """`path` as an existing folder, or a StorageError that says why and what to do."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the tutor's folder {path}: {reason(exc)}; "
                           f"set {ENV_HOME} to a writable folder") from None
    return path


def exercises_dir() -> Path:
    """The learner's copies of the write-it-yourself exercises (unless they chose a folder)."""
    return data_home() / "exercises"


def exercise_records_file() -> Path:
    return data_home() / "exercises.json"


def class_root() -> Path:
    """Where `serve` keeps one progress home per browser learner, and `class` looks.

    `QLORA_TUTOR_CLASS` moves it (for example to a folder the whole room can read)."""
    override = os.environ.get(ENV_CLASS)
    return Path(override).expanduser() if override else data_home() / "class"
