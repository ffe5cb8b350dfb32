"""The Exercises screen: a lesson links to it, and saving the file re-checks it live."""

from __future__ import annotations

from conftest import wait_until
from fixtures import make_app

from tutor.engine.exercises import find_exercise
from tutor.engine.lessons import load_catalog
from tutor.ui.app import create_app
from tutor.ui.screens.exercises import ExercisesScreen

CHECK_SECONDS = 60  # one checker process: starting it imports torch, bitsandbytes and peft


def text_of(screen, selector: str) -> str:
    return str(screen.query_one(selector).render())


async def test_lesson_links_its_exercises(tmp_path):
    (tmp_path / "01-linked.md").write_text(
        "---\nslug: linked\ntitle: Linked\npromise: A lesson with exercises.\nminutes: 1\norder: 1\n"
        "exercises: [blockwise]\n---\nSome prose.\n")
    app = create_app(catalog=load_catalog(tmp_path), start_lesson="linked")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "Write it yourself: blockwise" in text_of(app.screen, "#lesson-exercises")
        await pilot.press("x")
        assert isinstance(app.screen, ExercisesScreen)
        assert app.screen.exercise.slug == "blockwise"


async def test_saving_the_file_rechecks_it(monkeypatch, tutor_home):
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("x")
        screen = app.screen
        assert isinstance(screen, ExercisesScreen) and screen.exercise.slug == "absmax"
        await pilot.press("e")
        file = tutor_home / "exercises" / "absmax.py"
        assert file.exists() and str(file) in text_of(screen, "#exercise-where")
        assert text_of(screen, "#exercise-results").startswith("Not checked yet")
        file.write_text(find_exercise("absmax").solution.read_text())  # the learner saves
        results = lambda: text_of(screen, "#exercise-results")  # noqa: E731
        await wait_until(pilot, lambda: "All checks pass." in results(), CHECK_SECONDS, shows=results)
        assert "PASS max_level" in text_of(screen, "#exercise-results")
        await wait_until(pilot, lambda: "absmax  passing" in str(screen.query_one("#exercise-list").get_option_at_index(0).prompt), 5)
        assert screen.query_one("#exercise-list").border_title.startswith("1/")
        await pilot.press("i")
        assert text_of(screen, "#exercise-hint").startswith("Hint 1/")
