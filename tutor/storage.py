"""Writing to disk so that a fault never leaves half a file or half a folder behind.

Files are written beside their target and renamed over it; folders (an adapter, a merged
model) are filled under a hidden staging name and renamed into place only when complete.
`reason` turns an OSError into the few words a learner can act on ("the disk is full").

For fault-injection tests across processes, `QLORA_TUTOR_FAULT=<errno name>@<place>` makes
`inject_fault(place, path)` raise that OSError (places: `adapter`, `export`, `events`); unset,
it does nothing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

ENV_FAULT = "QLORA_TUTOR_FAULT"

REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the filesystem is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EEXIST: "a file is in the way",
    errno.ENOTDIR: "a file is in the way where a folder should be",
    errno.EISDIR: "it is a folder, not a file",
    errno.ENOENT: "it does not exist",
    errno.ENAMETOOLONG: "the name is too long",
}


class StorageError(Exception):
    """Something the tutor must write cannot be written; the message says what and why."""


def reason(exc: OSError) -> str:
    """A short, plain reason for an OSError, without the errno noise."""
    return REASONS.get(exc.errno, exc.strerror or type(exc).__name__)


def describe(exc: OSError, action: str = "write") -> str:
    """'cannot write /x/y: the disk is full' — the path and the reason, one line."""
    target = exc.filename if exc.filename is not None else "a file"
    return f"cannot {action} {target}: {reason(exc)}"


def inject_fault(place: str, path: Path) -> None:
    """Raise the OSError named by QLORA_TUTOR_FAULT, as if writing `path` failed, if it
    targets `place` (fault-injection tests only)."""
    name, _, where = os.environ.get(ENV_FAULT, "").partition("@")
    if where == place and hasattr(errno, name):
        code = getattr(errno, name)
        raise OSError(code, os.strerror(code), str(path))


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the new one, never a mix."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask's permissions, not mkstemp's 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:  # a failed write names no file
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `lock_path` (created if missing) for the block."""
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


_filling: set[Path] = set()  # staged folders being written right now, for signal handlers


def filling_a_folder() -> bool:
    """True while a `staged_folder` block runs (a save a signal handler should let finish)."""
    return bool(_filling)


def remove_unfinished(folder: Path, name: str = "*") -> int:
    """Delete the staging folders a writer killed with SIGKILL left in `folder` (for the
    target `name`, or all); only call it when no writer can be running. Returns how many."""
    leftovers = [p for p in folder.glob(f".{name}.*.partial") if p.is_dir()]
    for leftover in leftovers:
        shutil.rmtree(leftover, ignore_errors=True)
    return len(leftovers)


@contextlib.contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """Yield a hidden, empty folder beside `target`; rename it to `target` when the block
    succeeds, delete it when the block fails. `target` must not exist or be empty."""
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_unfinished(target.parent, target.name)
    # mkdir, not mkdtemp: the folder gets the umask's permissions (mkdtemp's 0700 would stay on
    # the renamed folder, unreadable to an instructor or a shared group)
    staging = target.parent / f".{target.name}.{secrets.token_hex(6)}.partial"
    staging.mkdir()
    _filling.add(staging)
    try:
        yield staging
        if target.is_dir() and not any(target.iterdir()):
            target.rmdir()
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        _filling.discard(staging)
