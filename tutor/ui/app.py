"""The Textual app: one factory builds it for the CLI and for tests."""

from __future__ import annotations

from textual.app import App

from tutor.engine.lessons import Lesson, load_catalog
from tutor.ui.job_manager import JobManager
from tutor.ui.screens.lesson import LessonScreen


class TutorApp(App[int]):
    """Owns what outlives a screen: the lesson catalog and the running jobs."""

    CSS_PATH = "app.tcss"
    TITLE = "qlora-tutor"

    def __init__(self, *, start_lesson: str | None = None, runner=None) -> None:
        super().__init__()
        self.catalog: tuple[Lesson, ...] = load_catalog()
        self.start_lesson = start_lesson
        self.jobs = JobManager(self, runner)

    def on_mount(self) -> None:
        first = self.start_lesson or self.catalog[0].slug
        self.push_screen(LessonScreen(first))

    def open_lesson(self, slug: str) -> None:
        self.switch_screen(LessonScreen(slug))


def create_app(*, start_lesson: str | None = None, runner=None) -> TutorApp:
    """Build the app. Tests pass `runner` to control how jobs are started."""
    return TutorApp(start_lesson=start_lesson, runner=runner)
