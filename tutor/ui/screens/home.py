"""The home screen: the syllabus with each lesson's status, ready to resume."""

from __future__ import annotations

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
            yield Static(id="resume")
            yield Syllabus(id="syllabus")
        yield Footer()

    def on_mount(self) -> None:
        self.show_progress()

    def on_screen_resume(self) -> None:
        self.show_progress()

    def show_progress(self) -> None:
        app = self.app
        last = app.progress.last_lesson
        lesson = next((l for l in app.catalog if l.slug == last), None)
        resume = self.query_one("#resume", Static)
        if lesson:
            resume.update(f"Welcome back. Continue with [b]{lesson.order}. {lesson.title}[/b]: press Enter.")
        else:
            resume.update("Start with lesson 1, or pick any lesson: arrows to choose, Enter to open.")
        self.query_one(Syllabus).show_lessons(app.catalog, app.progress, highlight=last)

    def action_open_highlighted(self) -> None:
        syllabus = self.query_one(Syllabus)
        syllabus.action_select()
