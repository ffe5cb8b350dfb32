"""A lesson: Markdown prose with the lesson's interactive panels mounted in between."""

from __future__ import annotations

import importlib

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Markdown, Static

from tutor.engine.lessons import find_lesson


def load_panel(ref: str):
    """Import `module.path:ClassName` and return the widget class."""
    module_name, _, class_name = ref.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


class LessonScreen(Screen):
    def __init__(self, slug: str) -> None:
        super().__init__()
        self.lesson = find_lesson(slug)

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="lesson-body"):
            yield Static(f"[b]{self.lesson.title}[/b]  {self.lesson.promise}", id="lesson-title")
            for segment in self.lesson.segments:
                if segment.panel:
                    yield load_panel(segment.panel)()
                else:
                    yield Markdown(segment.markdown)
        yield Footer()
