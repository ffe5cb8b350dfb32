"""The Textual app: one factory builds it for the CLI and for tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen

from tutor.engine.lessons import Lesson, load_catalog
from tutor.engine.progress import Progress, load_progress
from tutor.ui.palette import LessonCommands
from tutor.ui.job_manager import JobManager
from tutor.ui.screens.home import HomeScreen

if TYPE_CHECKING:
    from tutor.engine.jobs import JobRunner

# Only the home screen is imported up front; the others (and Markdown) load when first
# opened, so the first frame comes sooner.


class TutorApp(App[int]):
    """Owns what outlives a screen: the lesson catalog, the learner's progress, running jobs."""

    CSS_PATH = "app.tcss"
    TITLE = "qlora-tutor"
    COMMANDS = App.COMMANDS | {LessonCommands}
    BINDINGS = [
        Binding("t", "contents", "Contents"),
        Binding("d", "doctor", "Doctor"),
        Binding("l", "toggle_dark", "Light/dark", show=False),
        Binding("x", "exercises", "Exercises", show=False),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, *, start_lesson: str | None = None, runner: JobRunner | None = None,
                 progress: Progress | None = None, catalog: tuple[Lesson, ...] | None = None) -> None:
        super().__init__()
        self.catalog: tuple[Lesson, ...] = catalog or load_catalog()
        self.progress = progress or load_progress()
        self.progress.on_not_saved = self.warn_progress_not_saved
        self.start_lesson = start_lesson
        self.jobs = JobManager(self, runner)
        self.lesson_places: dict[str, float] = {}  # slug -> scroll offset, to come back to
        self.quitting = False

    def get_default_screen(self) -> Screen:
        return HomeScreen()

    def on_mount(self) -> None:
        self.jobs.on_app_mount()
        if self.progress.warning:
            self.notify(self.progress.warning, title="Progress reset", severity="warning", timeout=15)
        if self.progress.not_saved:
            self.warn_progress_not_saved(self.progress.not_saved)
        if self.start_lesson:
            self.open_lesson(self.start_lesson)

    def warn_progress_not_saved(self, why: str) -> None:
        """Lessons stay open to read; the learner is told once why nothing is remembered."""
        self.notify(f"Lessons open read-only: {why}. Set QLORA_TUTOR_HOME to a writable folder to keep it.",
                    title="Progress not saved", severity="warning", timeout=20)

    def open_lesson(self, slug: str, section: int | None = None) -> None:
        """Show a lesson (at its `section`-th heading, else where the learner left it): replace
        the lesson or doctor on screen, or open one over home."""
        from tutor.ui.screens.lesson import LessonScreen

        while len(self.screen_stack) > 1 and not isinstance(self.screen, LessonScreen):
            self.pop_screen()  # pop-ups and the doctor
        screen = LessonScreen(next(lesson for lesson in self.catalog if lesson.slug == slug), section)
        if isinstance(self.screen, HomeScreen):
            self.push_screen(screen)
        else:
            self.switch_screen(screen)

    def action_go_home(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    def action_contents(self) -> None:
        from tutor.ui.screens.toc import ContentsScreen

        if not isinstance(self.screen, ContentsScreen):
            lesson = getattr(self.screen, "lesson", None)
            self.push_screen(ContentsScreen(lesson.slug if lesson else None))

    def action_help(self) -> None:
        from tutor.ui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(below=self.screen))

    def action_doctor(self) -> None:
        from tutor.ui.screens.doctor import DoctorScreen

        if not isinstance(self.screen, DoctorScreen):
            while isinstance(self.screen, ModalScreen):
                self.pop_screen()
            self.push_screen(DoctorScreen())  # over the lesson, so Esc comes back to it

    def action_exercises(self, highlight: str | None = None) -> None:
        from tutor.ui.screens.exercises import ExercisesScreen

        if not isinstance(self.screen, ExercisesScreen):
            self.push_screen(ExercisesScreen(highlight))

    async def action_quit(self) -> None:
        """Quit, unless the job manager keeps us (e.g. the learner cancels over a running job)."""
        if await self.jobs.before_quit():
            self.quitting = True
            self.exit()

    async def run_action(self, action, default_namespace=None) -> bool:
        """Once quitting, keys already queued (`q` then `t` in one burst over a slow link) do
        nothing: a screen opened while the app shuts down would fail to mount."""
        if self.quitting:
            return True
        return await super().run_action(action, default_namespace)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("Home", "The syllabus and your progress", self.action_go_home)
        yield SystemCommand("Contents", "Jump to any lesson", self.action_contents)
        yield SystemCommand("Doctor", "Check GPU, CUDA and libraries for the labs", self.action_doctor)
        yield SystemCommand("Exercises", "Write QLoRA's pieces yourself, checked as you save (x)",
                            self.action_exercises)
        yield SystemCommand("Light/dark", "Toggle the light and dark theme", self.action_toggle_dark)
        yield from super().get_system_commands(screen)


def create_app(*, start_lesson: str | None = None, runner: JobRunner | None = None, progress: Progress | None = None,
               catalog: tuple[Lesson, ...] | None = None) -> TutorApp:
    """Build the app. Tests pass `runner` to control how jobs are started, and may pass their
    own `progress` record and lesson `catalog`."""
    return TutorApp(start_lesson=start_lesson, runner=runner, progress=progress, catalog=catalog)
