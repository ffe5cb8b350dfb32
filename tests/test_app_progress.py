"""The TUI saves progress as the learner goes and restores it on the next launch."""

from __future__ import annotations

from fixtures import make_app
from textual.widgets import Input, RadioButton

from tutor.engine.progress import DONE, IN_PROGRESS, NOT_STARTED, load_progress
from tutor.paths import progress_file
from tutor.ui.screens.home import HomeScreen
from tutor.ui.widgets.quiz import Quiz
from tutor.ui.widgets.syllabus import Syllabus


async def test_opening_a_lesson_marks_it_and_the_next_launch_resumes_there():
    app = make_app(start_lesson="quizzed")
    async with app.run_test() as pilot:
        await pilot.pause()
    progress = load_progress()
    assert progress.status("quizzed") == IN_PROGRESS and progress.last_lesson == "quizzed"

    again = make_app()
    async with again.run_test() as pilot:
        await pilot.pause()
        home = again.screen
        assert isinstance(home, HomeScreen)
        assert "Continue with 2. Lesson with a quiz" in str(home.query_one("#resume").render())
        syllabus = home.query_one(Syllabus)
        assert syllabus.get_option_at_index(syllabus.highlighted).id == "quizzed"
        await pilot.press("enter")
        assert again.screen.lesson.slug == "quizzed"


async def test_next_completes_a_lesson_without_a_quiz():
    app = make_app(start_lesson="intro")
    async with app.run_test() as pilot:
        await pilot.press("n")
    assert load_progress().status("intro") == DONE


async def test_coming_lessons_are_not_tracked():
    app = make_app(start_lesson="later")
    async with app.run_test() as pilot:
        await pilot.press("p", "n")
    progress = load_progress()
    assert progress.status("later") == NOT_STARTED and progress.last_lesson == "quizzed"


async def answer(pilot, choice_index: int, number: str) -> None:
    quiz = pilot.app.screen.query_one(Quiz)
    quiz.query(RadioButton)[choice_index].value = True
    quiz.query_one(Input).value = number
    await pilot.click("#check")
    await pilot.pause()


async def test_quiz_check_retry_pass_keeps_best_score_and_completes_the_lesson():
    app = make_app(start_lesson="quizzed")
    async with app.run_test(size=(100, 50)) as pilot:
        await pilot.pause()
        await pilot.press("n")  # leaving a quiz lesson early does not complete it
        assert load_progress().status("quizzed") == IN_PROGRESS
        await pilot.press("p")
        await pilot.pause()
        quiz = app.screen.query_one(Quiz)
        quiz.scroll_visible(animate=False)
        await pilot.pause()

        await answer(pilot, choice_index=0, number="16")  # first wrong, second right
        assert len(quiz.query(".question.-wrong")) == 1 and len(quiz.query(".question.-right")) == 1
        assert "NF4 is a 4-bit data type." in str(quiz.query(".verdict")[0].render())
        assert load_progress().of("quizzed").best_score == 1
        assert load_progress().status("quizzed") == IN_PROGRESS

        await pilot.click("#retry")
        await pilot.pause()
        quiz = app.screen.query_one(Quiz)
        assert not quiz.query(".question.-wrong") and quiz.query_one(Input).value == ""

        await answer(pilot, choice_index=1, number="16")
        progress = load_progress()
        assert progress.status("quizzed") == DONE and progress.of("quizzed").best_score == 2


async def test_corrupt_state_file_warns_and_the_app_still_works():
    progress_file().write_text("][ definitely not json")
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.pause()
        assert any("unreadable" in n.message for n in app._notifications)
        await pilot.press("enter")
        assert app.screen.lesson.slug == "intro"
    assert load_progress().last_lesson == "intro"
    assert list(progress_file().parent.glob("progress.json.corrupt-*"))
