"""The app-wide owner of lab jobs, so leaving a screen never cancels a run.

SKELETON: the lab-screens engineer fills this in (start, cancel, re-attach on launch,
tail events in one thread and post batched messages to the app).
"""

from __future__ import annotations


class JobManager:
    def __init__(self, app, runner=None) -> None:
        self.app = app
        self._runner = runner
