"""The lab-train lesson at 80x24 in each state a run goes through (idle, running, finished,
failed), driven by the fake runner and scrolled to the run's status line.

After an intended change: pytest --snapshot-update tests/test_snapshots*.py
"""

from __future__ import annotations

import pytest
from pytest_textual_snapshot import SVGImageExtension

from conftest import wait_until
from fakes import FakeRunner
from tutor.paths import runs_dir
from tutor.ui.app import create_app
from tutor.ui.widgets.loss_chart import LossChart

SIZE = (80, 24)
FAILURE = {"error_type": "OutOfMemoryError", "message": "CUDA out of memory",
           "hint": "lower per_device_train_batch_size or max_length"}


class NamedRunner(FakeRunner):
    """Runs in a folder with a fixed name, so the status line reads the same every time."""

    def start(self, kind, config, run_dir=None):
        return super().start(kind, config, runs_dir() / f"snapshot-{kind}")


STATES = {
    "idle": (dict(), None),
    "running": (dict(steps=6, hold_after_step=3), lambda run: bool(run.events) and run.events[-1].get("step") == 3),
    "finished": (dict(steps=6), lambda run: run.status == "finished"),
    "failed": (dict(fail_with=FAILURE), lambda run: run.status == "failed"),
}


@pytest.mark.parametrize("state", list(STATES))
async def test_lab_train(state, snapshot):
    options, reached = STATES[state]
    app = create_app(start_lesson="lab-train", runner=NamedRunner(**options))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await app.workers.wait_for_complete()
            if reached:
                await pilot.press("ctrl+r")
                await wait_until(pilot, lambda: (run := app.jobs.latest("train")) is not None and reached(run))
                chart = app.screen.query_one(LossChart)
                await wait_until(pilot, lambda: not chart._stale)  # it redraws on a timer
            app.screen.query_one(".lab-status").scroll_visible(top=True, animate=False, immediate=True)
            await pilot.pause()
            assert snapshot.use_extension(SVGImageExtension) == app.export_screenshot()
    finally:
        FakeRunner.release_all()
