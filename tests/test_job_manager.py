"""JobManager: batched delivery without gaps, re-attach on launch, and the quit question."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import Button

from conftest import wait_until
from fakes import FakeRunner, write_dead_run
from tutor.engine.events import read_all
from tutor.ui.job_manager import JobEvents, JobManager
from tutor.ui.screens.keep_running import KeepRunningScreen


class Recorder(Widget):
    """Collects what a watcher is sent: the replay, then every batch."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict] = []
        self.batches = 0

    def on_job_events(self, message: JobEvents) -> None:
        self.events.extend(message.events)
        self.batches += 1


class HostApp(App):
    def __init__(self, runner: FakeRunner) -> None:
        super().__init__()
        self.jobs = JobManager(self, runner)

    def compose(self) -> ComposeResult:
        yield Recorder()

    def on_mount(self) -> None:
        self.jobs.on_app_mount()


async def test_a_late_watcher_gets_replay_then_batches_without_gaps_or_repeats() -> None:
    app = HostApp(FakeRunner(steps=20, step_s=0.03))
    async with app.run_test() as pilot:
        run = app.jobs.start("train", None)
        await wait_until(pilot, lambda: len(run.events) > 5)
        recorder = app.query_one(Recorder)
        recorder.events.extend(app.jobs.watch(recorder, run))
        await wait_until(pilot, lambda: any(e["type"] == "end" for e in recorder.events))
    on_disk = read_all(run.run_dir)
    assert recorder.events == on_disk
    # Far fewer messages than events: one per tick, not one per token or step.
    assert recorder.batches < len(on_disk) / 2


async def test_launch_reattaches_running_and_finished_runs() -> None:
    runner = FakeRunner(steps=3, step_s=0.01)
    first = App()
    async with first.run_test() as pilot:
        jobs = JobManager(first, runner)
        finished = jobs.start("train", None)
        await wait_until(pilot, lambda: finished.status == "finished")
    held = FakeRunner(steps=6, step_s=0.01, hold_after_step=2).start("train", None)

    app = HostApp(FakeRunner())
    async with app.run_test() as pilot:
        runs = {run.run_dir: run for run in app.jobs.runs()}
        assert set(runs) == {finished.run_dir, held.run_dir}
        assert app.jobs.runs()[0].run_dir == held.run_dir  # newest first
        await wait_until(pilot, lambda: runs[held.run_dir].events and not runs[finished.run_dir].tailing)
        assert runs[finished.run_dir].status == "finished"
        assert runs[held.run_dir].is_active
        assert [r.run_dir for r in app.jobs.active_runs()] == [held.run_dir]


async def test_a_job_that_died_without_an_end_event_is_reported_lost() -> None:
    run_dir = write_dead_run("train", [{"type": "phase", "t": 1.0, "phase": "loading"}])
    app = HostApp(FakeRunner())
    async with app.run_test() as pilot:
        run = app.jobs.latest("train")
        recorder = app.query_one(Recorder)
        recorder.events.extend(app.jobs.watch(recorder, run))
        await wait_until(pilot, lambda: not run.tailing and recorder.events)
    assert run.run_dir == run_dir
    assert run.status == "lost"
    assert [e["phase"] for e in recorder.events] == ["loading"]


async def test_quit_with_nothing_running_does_not_ask() -> None:
    app = HostApp(FakeRunner())
    async with app.run_test():
        assert await app.jobs.before_quit() is True
        assert not isinstance(app.screen, KeepRunningScreen)


async def _quit_over_a_held_run(choice: str):
    runner = FakeRunner(steps=6, step_s=0.01, hold_after_step=2)
    app = HostApp(runner)
    async with app.run_test() as pilot:
        run = app.jobs.start("train", None)
        await wait_until(pilot, lambda: any(e["type"] == "progress" for e in run.events))
        assert await app.jobs.before_quit() is False
        await wait_until(pilot, lambda: isinstance(app.screen, KeepRunningScreen) and app.screen.query("#keep-running-question"))
        assert run.run_dir.name in str(app.screen.query_one("#keep-running-question").content)
        await pilot.click(f"#{choice}")
        await wait_until(pilot, lambda: not app.is_running or not isinstance(app.screen, KeepRunningScreen))
        still_open = app.is_running and not isinstance(app.screen, KeepRunningScreen)
    return run, still_open


async def test_quit_keep_running_leaves_the_run_going() -> None:
    run, still_open = await _quit_over_a_held_run("keep")
    assert not still_open
    assert run.handle.is_running()


async def test_quit_stop_cancels_the_run_and_it_saves_the_adapter() -> None:
    run, still_open = await _quit_over_a_held_run("stop")
    assert not still_open
    assert run.handle.is_running()  # held at its step; cancelling lets it finish that step
    FakeRunner.release_all()
    assert run.handle.wait(timeout=30) == "cancelled"
    events = read_all(run.run_dir)
    assert events[-1] == {**events[-1], "type": "end", "status": "cancelled"}
    summary = next(e for e in events if e["type"] == "summary")
    assert summary["cancelled"] is True
    assert (run.run_dir / "adapter" / "adapter_model.safetensors").exists()


async def test_quit_cancel_stays_in_the_app() -> None:
    run, still_open = await _quit_over_a_held_run("stay")
    assert still_open
    assert run.handle.is_running()


def test_keep_running_buttons_say_what_they_do() -> None:
    async def labels() -> list[str]:
        app = App()
        async with app.run_test() as pilot:
            app.push_screen(KeepRunningScreen([]))
            await pilot.pause()
            return [str(b.label) for b in app.screen.query(Button)]

    assert asyncio.run(labels()) == [
        "Keep running in the background",
        "Stop the run (saves the adapter)",
        "Cancel",
    ]
