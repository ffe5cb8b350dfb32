"""Keys, focus and scrolling on the way through the app at 80x24 (issue 14's dead keys and
lost places), over the real lessons with the fake job runner."""

from __future__ import annotations

import io

from rich.console import Console
from textual.widgets import Button, RadioSet

from conftest import click_in_view, wait_until
from fakes import FakeRunner
from fixtures import make_app
from lessons.panels.lab_common import SPINNER
from tutor.engine.config import RunConfig
from tutor.ui.app import create_app
from tutor.ui.screens.doctor import DoctorScreen
from tutor.ui.screens.help import keys_table
from tutor.ui.screens.home import HomeScreen
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.widgets.syllabus import Syllabus

SIZE = (80, 24)


def lesson_loaded(app) -> bool:
    """The lesson's Markdown is mounted and it went to its place (a section or the last one)."""
    return isinstance(app.screen, LessonScreen) and app.screen.markdown_to_load <= 0


def visible_in_body(widget) -> bool:
    body = widget.screen.query_one("#lesson-body")
    return body.region.contains_region(widget.region)


def help_text(screen) -> str:
    console = Console(record=True, width=80, file=io.StringIO())
    console.print(keys_table(screen))
    return console.export_text()


async def test_keys_queued_behind_quit_do_nothing():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("q", "t", "d", "question_mark")
        await pilot.pause()
    assert app.return_code == 0


async def test_ctrl_r_starts_a_lab_from_the_prose_and_help_lists_it():
    app = create_app(start_lesson="lab-train", runner=FakeRunner(steps=2))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: lesson_loaded(app))
        await pilot.press("pagedown", "pagedown")
        assert app.screen.focused is app.screen.query_one("#lesson-body")
        assert "Start run" in help_text(app.screen)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: app.jobs.latest("train") is not None)


async def test_ctrl_r_is_not_offered_outside_the_labs():
    app = make_app(start_lesson="intro")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert "Start run" not in help_text(app.screen)
        await pilot.press("ctrl+r")  # nothing happens, nothing breaks
        assert isinstance(app.screen, LessonScreen)


async def test_quiz_check_and_try_again_keep_the_keys_and_the_view():
    app = create_app(start_lesson="lab-baseline", runner=FakeRunner())
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: lesson_loaded(app))
        await click_in_view(pilot, "#check")
        score = app.screen.query_one("#quiz-score")
        await wait_until(pilot, lambda: visible_in_body(score))
        assert app.screen.focused is app.screen.query_one("#retry", Button)
        body = app.screen.query_one("#lesson-body")
        before = body.scroll_y
        await pilot.press("pageup")
        await wait_until(pilot, lambda: body.scroll_y < before)  # scroll keys still work

        await pilot.press("pagedown", "pagedown", "pagedown")
        app.screen.query_one("#retry", Button).focus()
        await pilot.press("enter")
        first = app.screen.query(".question").first()
        await wait_until(pilot, lambda: visible_in_body(first.query_one(".prompt")))
        assert app.screen.focused is first.query_one(RadioSet)
        assert first.query_one(RadioSet).pressed_index == -1


async def test_contents_reaches_the_last_lesson_and_opens_a_section():
    app = create_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t", "end")
        syllabus = app.screen.query_one(Syllabus)
        assert syllabus.region.bottom <= SIZE[1]
        assert syllabus.highlighted == syllabus.option_count - 1
        last_row = syllabus.get_option_index(app.catalog[-1].slug)  # one line per option in Contents
        top = syllabus.scroll_offset.y
        assert top <= last_row < top + syllabus.scrollable_content_region.height
        syllabus.highlighted = syllabus.get_option_index("quantization#3")  # "One outlier spoils the scale"
        await pilot.press("enter")
        await wait_until(pilot, lambda: lesson_loaded(app) and app.screen.lesson.slug == "quantization")
        heading = list(app.screen.query("MarkdownH2"))[3]
        await wait_until(pilot, lambda: visible_in_body(heading))


async def test_a_lesson_reopens_where_it_was_left():
    app = create_app(start_lesson="lab-baseline", runner=FakeRunner())
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: lesson_loaded(app))
        await pilot.press("pagedown", "pagedown")
        body = app.screen.query_one("#lesson-body")
        place = body.scroll_y
        assert place > 0
        await pilot.press("escape")  # the prose has the focus: Esc goes home
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("enter")  # "Welcome back. Continue with ..."
        await wait_until(pilot, lambda: lesson_loaded(app))
        await wait_until(pilot, lambda: app.screen.query_one("#lesson-body").scroll_y == place)


async def test_escape_in_doctor_goes_back_to_the_lesson():
    app = make_app(start_lesson="intro")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press("d")
        assert isinstance(app.screen, DoctorScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, LessonScreen) and app.screen.lesson.slug == "intro"


async def test_home_says_a_run_is_in_progress():
    runner = FakeRunner(steps=3, hold_after_step=1)
    runner.start("train", RunConfig())
    app = create_app(runner=runner)
    try:
        async with app.run_test(size=SIZE) as pilot:
            resume = app.screen.query_one("#resume")
            await wait_until(pilot, lambda: "Run in progress" in str(resume.content))
    finally:
        FakeRunner.release_all()


async def test_a_loading_lab_shows_a_spinner_and_the_seconds():
    app = create_app(start_lesson="lab-train", runner=FakeRunner(steps=2, step_s=1.5))
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: lesson_loaded(app))
        await pilot.press("ctrl+r")
        status = app.screen.query_one(".lab-status")
        await wait_until(pilot, lambda: any(frame in str(status.content) for frame in SPINNER))
        assert " s" in str(status.content)
        await wait_until(pilot, lambda: "finished" in str(status.content))
        assert not any(frame in str(status.content) for frame in SPINNER)
