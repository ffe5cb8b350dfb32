"""The home screen: the syllabus with each lesson's status, ready to resume."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tutor.ui.widgets.syllabus import Syllabus

PITCH = ("Learn QLoRA by doing it: squeeze a model's weights into 4-bit NF4, train a small "
         "LoRA adapter on top, and see what changed.")


class HomeScreen(Screen):
    BINDINGS = [("enter", "open_highlighted", "Open")]

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
        with Vertical(id="home"):
            yield Static(PITCH, id="pitch")
            yield Static(self.resume_text(), id="resume")
            yield Syllabus(self.app.catalog, self.app.progress, self.app.progress.last_lesson, id="syllabus")
        yield Footer()

    def on_screen_resume(self) -> None:
        """Back from a lesson: show what changed in the progress."""
        app = self.app
        self.query_one("#resume", Static).update(self.resume_text())
        self.query_one(Syllabus).show_lessons(app.catalog, app.progress, app.progress.last_lesson)

    def resume_text(self) -> str:
        app = self.app
        last = app.progress.last_lesson
        lesson = next((l for l in app.catalog if l.slug == last), None)
        if lesson:
            text = f"Welcome back. Continue with [b]{lesson.order}. {lesson.title}[/b]: press Enter."
        else:
            text = "Start with lesson 1, or pick any lesson: arrows to choose, Enter to open."
        if running := app.jobs.active_runs():
            names = ", ".join(f"{run.kind} {escape(run.run_dir.name)}" for run in running)
            text = f"[b reverse] Run in progress [/] {names}: its lab lesson shows it live.\n{text}"
        return text

    def action_open_highlighted(self) -> None:
        syllabus = self.query_one(Syllabus)
        syllabus.action_select()
