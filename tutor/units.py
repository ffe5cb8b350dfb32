"""Numbers as a learner reads them: bytes in GiB/MiB (memory, as CUDA and the OS count it) or
in GB/MB (model and file sizes, as the lessons and papers count them), seconds as minutes."""

from __future__ import annotations


def human_bytes(count: float | None) -> str:
    if count is None:
        return "?"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(count) >= size:
            return f"{count / size:.2f} {unit}"
    return f"{int(count)} B"


def decimal_bytes(n_bytes: int) -> str:
    """A size in decimal units (MB = 10^6 bytes), the way the lessons count."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:,.1f} {unit}"
    return f"{n_bytes} bytes"


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
