"""The list of lessons with their status, used by the home screen and the table of contents."""

from __future__ import annotations

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tutor.engine.lessons import Lesson
from tutor.engine.progress import DONE, IN_PROGRESS, Progress

STATUS_LOOK = {
    DONE: ("✓", "done", "green"),
    IN_PROGRESS: ("●", "in progress", "yellow"),
}
NOT_STARTED_LOOK = ("○", "not started", "dim")
COMING_LOOK = ("…", "coming soon", "dim italic")


def lesson_prompt(lesson: Lesson, progress: Progress) -> Group:
    """Two lines: status mark, number, title, minutes and status; then the lesson's promise."""
    entry = progress.of(lesson.slug)
    mark, label, style = COMING_LOOK if lesson.coming else STATUS_LOOK.get(entry.status, NOT_STARTED_LOOK)
    row = Table.grid(expand=True, padding=(0, 1))
    row.add_column(width=1)
    row.add_column(width=2, justify="right")
    row.add_column(ratio=1)
    row.add_column(width=6, justify="right")
    row.add_column(width=12)
    row.add_row(Text(mark, style=style), str(lesson.order), Text(lesson.title, style="bold"),
                f"{lesson.minutes} min", Text(label, style=style, overflow="ellipsis", no_wrap=True))
    return Group(row, Padding(Text(lesson.promise, style="dim"), (0, 0, 0, 5)))


class Syllabus(OptionList):
    """One option per lesson (its id is the slug); selecting one asks the app to open it."""

    def show_lessons(self, lessons: tuple[Lesson, ...], progress: Progress, highlight: str | None) -> None:
        self.clear_options()
        self.add_options(Option(lesson_prompt(lesson, progress), id=lesson.slug) for lesson in lessons)
        slugs = [lesson.slug for lesson in lessons]
        self.highlighted = slugs.index(highlight) if highlight in slugs else 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.app.open_lesson(event.option.id)
