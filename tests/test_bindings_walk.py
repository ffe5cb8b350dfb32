"""Every key the footer or `?` shows, pressed on every screen, does what it says.

The keys are read from each screen's live bindings, so a key added later without a check
here fails `test_every_key_has_a_check` until someone says what it should do.
"""

from __future__ import annotations


import pytest
from textual.app import App
from textual.command import CommandPalette
from textual.screen import Screen

from conftest import wait_until
from fakes import FakeRunner
from fixtures import make_app
from tutor.engine.config import RunConfig
from tutor.ui.app import create_app
from tutor.engine.exercises import learner_file
from tutor.ui.screens.doctor import DoctorScreen
from tutor.ui.screens.exercises import ExercisesScreen
from tutor.ui.screens.help import HelpScreen, declared_actions
from tutor.ui.screens.home import HomeScreen
from tutor.ui.screens.keep_running import KeepRunningScreen
from tutor.ui.screens.lesson import LessonScreen
from tutor.ui.screens.toc import ContentsScreen

SIZE = (80, 24)


@pytest.fixture(autouse=True)
def no_editor(monkeypatch):
    """Starting an exercise opens $EDITOR when one is set; here it must only say which file."""
    monkeypatch.delenv("EDITOR", raising=False)
    monkeypatch.delenv("VISUAL", raising=False)


def slug(app) -> str | None:
    return app.screen.lesson.slug if isinstance(app.screen, LessonScreen) else None


def keep_running_app():
    """Quit with a run going asks whether to keep it."""
    runner = FakeRunner(steps=3, hold_after_step=1)
    runner.start("train", RunConfig())
    return make_app(runner=runner)


# Each screen: how to build the app, then the keys that bring it up.
SCREENS = {
    "home": (lambda: make_app(), []),
    "lesson": (lambda: make_app(start_lesson="quizzed"), []),
    "lab lesson": (lambda: create_app(start_lesson="lab-baseline", runner=FakeRunner()), []),
    "contents": (lambda: make_app(start_lesson="quizzed"), ["t"]),
    "help": (lambda: make_app(start_lesson="quizzed"), ["question_mark"]),
    "doctor": (lambda: make_app(start_lesson="quizzed"), ["d"]),
    "keep running": (keep_running_app, ["q"]),
    "exercises": (lambda: make_app(), ["x", "e"]),  # the first exercise, started
}


# What each action must have done, given what was on screen before the key.
CHECKS = {
    "contents": lambda app, before: isinstance(app.screen, ContentsScreen),
    "doctor": lambda app, before: isinstance(app.screen, DoctorScreen),
    "help": lambda app, before: isinstance(app.screen, HelpScreen),
    "exercises": lambda app, before: isinstance(app.screen, ExercisesScreen),
    "edit": lambda app, before: learner_file(app.screen.exercise).exists(),
    "check": lambda app, before: shown(app, "#exercise-results") != before["results"],
    "hint": lambda app, before: shown(app, "#exercise-hint").startswith("Hint 1/"),
    "solution": lambda app, before: len(app._notifications) > before["notes"],  # "opens after one failed check"
    "toggle_dark": lambda app, before: app.current_theme.dark is not before["dark"],
    "quit": lambda app, before: not app.is_running or isinstance(app.screen, KeepRunningScreen),
    "command_palette": lambda app, before: isinstance(app.screen, CommandPalette),
    "next_lesson": lambda app, before: slug(app) == before["next"],
    "previous_lesson": lambda app, before: slug(app) == before["previous"],
    "app.go_home": lambda app, before: isinstance(app.screen, HomeScreen) and len(app.screen_stack) == 1,
    "leave": lambda app, before: isinstance(app.screen, HomeScreen),  # from the prose
    "start_run": lambda app, before: app.jobs.latest("generate") is not None,
    "dismiss": lambda app, before: type(app.screen) is not before["screen"],
    "app.pop_screen": lambda app, before: type(app.screen) is not before["screen"],  # back where it was
    "recheck": lambda app, before: first_check(app) not in (None, before["first check"]),  # checked anew
    "stay": lambda app, before: app.is_running and not isinstance(app.screen, KeepRunningScreen),
}


def shown(app, selector: str) -> str:
    return str(app.screen.query_one(selector).content)


def first_check(app):
    checks = app.screen.query("#checks > *") if isinstance(app.screen, DoctorScreen) else []
    return checks.first() if checks else None


def listed_keys(screen) -> dict[str, str]:
    """key -> action for what the footer shows and what `?` lists on this screen."""
    keys = {}
    for key, active in screen.active_bindings.items():
        binding, node = active.binding, active.node
        in_help = isinstance(node, (App, Screen)) and binding.action in declared_actions(node) | {"command_palette"}
        if (binding.show or in_help) and active.enabled:
            keys[key] = binding.action
    return keys


async def open_screen(name: str, pilot) -> None:
    await pilot.pause()
    for key in SCREENS[name][1]:
        await pilot.press(key)
    await pilot.pause()


def build(name: str):
    return SCREENS[name][0]()


APP_KEYS = ["t", "d", "l", "x", "question_mark", "q", "ctrl+q", "ctrl+p"]
LESSON_KEYS = ["n", "p", "h", "escape"]
KEYS = {
    "home": APP_KEYS,
    "lesson": LESSON_KEYS + APP_KEYS,
    "lab lesson": LESSON_KEYS + ["ctrl+r"] + APP_KEYS,
    "contents": ["escape", "t"],
    "help": ["escape", "question_mark"],
    "doctor": ["escape", "h", "r"] + APP_KEYS,
    "keep running": ["escape"],
    "exercises": ["escape", "e", "c", "i", "s"] + APP_KEYS,
}
CASES = [(name, key) for name, keys in KEYS.items() for key in keys]


@pytest.mark.parametrize("screen_name", list(SCREENS))
async def test_the_keys_listed_are_the_keys_walked(screen_name):
    app = build(screen_name)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await open_screen(screen_name, pilot)
            assert sorted(listed_keys(app.screen)) == sorted(KEYS[screen_name])
    finally:
        FakeRunner.release_all()


@pytest.mark.parametrize("screen_name, key", CASES, ids=[f"{s}:{k}" for s, k in CASES])
async def test_key_does_what_it_says(screen_name, key):
    app = build(screen_name)
    try:
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await open_screen(screen_name, pilot)
            action = listed_keys(app.screen)[key]
            assert action in CHECKS, f"{key} on {screen_name} runs {action}, which has no check here"
            previous, after = app.screen.neighbours if isinstance(app.screen, LessonScreen) else (None, None)
            before = {"screen": type(app.screen), "dark": app.current_theme.dark,
                      "previous": previous and previous.slug, "next": after and after.slug,
                      "first check": first_check(app), "notes": len(app._notifications),
                      "results": shown(app, "#exercise-results") if isinstance(app.screen, ExercisesScreen) else ""}
            await pilot.press(key)
            await wait_until(pilot, lambda: CHECKS[action](app, before))
    finally:
        FakeRunner.release_all()
