"""The headless commands' one failure: printed by `tutor.cli.main` as one line, exit code `code`.

It lives with the commands, not in `tutor.cli`, so that a command (or a screen reusing one)
never imports the entry point, which imports the UI.
"""

from __future__ import annotations

from tutor.engine.errors import LabError


class CommandError(Exception):
    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code

    @classmethod
    def from_lab(cls, exc: LabError) -> CommandError:
        """The engine's message with its hint on the next line."""
        return cls(f"{exc}\n  hint: {exc.hint}" if exc.hint else str(exc))
