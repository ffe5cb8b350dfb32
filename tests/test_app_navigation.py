"""Moving around the TUI with the keyboard: home, lessons, contents, help, palette, quit."""

from __future__ import annotations

import io

from conftest import wait_until
from fixtures import make_app
from rich.console import Console
from textual.command import CommandList
from textual.widgets import Input

from tutor.ui.screens.help import HelpScreen, keys_table
from tutor.ui.screens.home import HomeScreen
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.toc import ContentsScreen
from tutor.ui.widgets.syllabus import Syllabus


def first_hit(app) -> str:
    """The palette's first search hit as text ('' while it is still searching)."""
    hits = app.screen.query(CommandList)
    return str(hits.first().get_option_at_index(0).prompt) if hits and hits.first().option_count else ""


def current_slug(app) -> str | None:
    return app.screen.lesson.slug if isinstance(app.screen, LessonScreen) else None


async def test_home_lists_the_syllabus_and_enter_opens_a_lesson():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, HomeScreen)
        syllabus = app.screen.query_one(Syllabus)
        assert [syllabus.get_option_at_index(i).id for i in range(syllabus.option_count)] == [
            "intro", "quizzed", "later"]
        await pilot.press("down", "enter")
        assert current_slug(app) == "quizzed"


async def test_next_previous_and_home():
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("enter")
        assert current_slug(app) == "intro"
        await pilot.press("n")
        assert current_slug(app) == "quizzed"
        await pilot.press("n", "n")  # the last lesson stays put
        assert current_slug(app) == "later"
        await pilot.press("p")
        assert current_slug(app) == "quizzed"
        await pilot.press("h")
        assert isinstance(app.screen, HomeScreen) and len(app.screen_stack) == 1


async def test_start_lesson_opens_it_over_home():
    app = make_app(start_lesson="quizzed")
    async with app.run_test() as pilot:
        await pilot.pause()
        assert current_slug(app) == "quizzed"
        await pilot.press("escape")
        assert isinstance(app.screen, HomeScreen)


async def test_escape_leaves_a_field_before_it_leaves_the_lesson():
    app = make_app(start_lesson="quizzed")
    async with app.run_test() as pilot:
        await pilot.pause()
        answer = app.screen.query_one(Input)
        answer.focus()
        await pilot.press("1", "6", "escape")
        assert current_slug(app) == "quizzed" and not answer.has_focus
        assert answer.value == "16"  # what the learner typed stays
        await pilot.press("escape")
        assert isinstance(app.screen, HomeScreen)


async def test_lesson_shows_prose_and_panels_and_a_note_for_a_broken_panel():
    app = make_app(start_lesson="intro")
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.screen.query_one("#demo-panel")
        [note] = app.screen.query(".panel-error")
        assert "fixtures.panels.demo:Missing" in str(note.render())


async def test_table_of_contents_jumps_to_a_lesson():
    app = make_app(start_lesson="intro")
    async with app.run_test() as pilot:
        await pilot.press("t")
        assert isinstance(app.screen, ContentsScreen)
        await pilot.press("down", "down", "enter")
        assert current_slug(app) == "later"
        await pilot.press("t", "escape")
        assert current_slug(app) == "later"


async def test_help_overlay_lists_the_keys():
    app = make_app(start_lesson="intro")
    async with app.run_test() as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        console = Console(record=True, width=80, file=io.StringIO())
        console.print(keys_table(app.screen.below))
        text = console.export_text()
        for description in ("Next", "Prev", "Contents", "Help", "Quit", "Light/dark"):
            assert description in text
        await pilot.press("escape")
        assert current_slug(app) == "intro"


async def test_footer_shows_the_lesson_keys():
    app = make_app(start_lesson="intro")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        footer = {b.binding.description for b in app.screen.active_bindings.values() if b.binding.show}
        assert {"Next", "Prev", "Home", "Contents", "Help", "Quit"} <= footer


async def test_palette_opens_a_lesson_by_name():
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"with a quiz")
        await wait_until(pilot, lambda: "Lesson with a quiz" in first_hit(app))
        await pilot.press("enter")
        await pilot.pause()
        assert current_slug(app) == "quizzed"


async def test_light_dark_toggle():
    app = make_app()
    async with app.run_test() as pilot:
        before = app.current_theme.dark
        await pilot.press("l")
        assert app.current_theme.dark is not before


async def test_quit_asks_the_job_manager_first():
    app = make_app()
    async with app.run_test() as pilot:
        keep_running = False

        async def before_quit() -> bool:
            return keep_running

        app.jobs.before_quit = before_quit
        await pilot.press("q")
        assert app.is_running
        keep_running = True
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_letters_typed_into_a_quiz_answer_are_not_shortcuts():
    app = make_app(start_lesson="quizzed")
    async with app.run_test() as pilot:
        await pilot.pause()
        field = app.screen.query_one(Input)
        field.focus()
        await pilot.press("q", "n", "1")
        assert field.value == "qn1" and current_slug(app) == "quizzed"
