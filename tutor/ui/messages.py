"""Messages a lesson's panels send up to the lesson screen, which owns the learner's progress."""

from __future__ import annotations

from textual.message import Message


class MeasurementPassed(Message):
    """The panel measured the learner's own choice on this machine and it passed (the
    capstone: the plan fit and the prediction came within tolerance); `summary` says what."""

    def __init__(self, summary: str) -> None:
        super().__init__()
        self.summary = summary
