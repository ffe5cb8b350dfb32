"""The engine's one exception for failures a learner can fix.

It lives in the engine because the engine raises it and the worker carries it across the
process boundary as an `error` event (message + hint); the CLI and the screens only catch it.
"""

from __future__ import annotations


class LabError(Exception):
    """A failure the user can fix: a one-line message plus a hint on what to do instead."""

    hint = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message, or its type's name when the message is
    empty (some libraries raise with none), for a one-line report."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
