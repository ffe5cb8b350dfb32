"""The list of lessons with their status, used by the home screen and the table of contents."""

from __future__ import annotations

from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text
from textual.widgets import OptionList
from textual.widgets.option_list import Option, OptionDoesNotExist

from tutor.engine.lessons import Lesson
from tutor.engine.progress import DONE, IN_PROGRESS, Progress

STATUS_LOOK = {
    DONE: ("✓", "done", "green"),
    IN_PROGRESS: ("●", "in progress", "yellow"),
}
NOT_STARTED_LOOK = ("○", "not started", "dim")
COMING_LOOK = ("…", "coming soon", "dim italic")
SECTION_SEPARATOR = "#"  # an option id "slug#2" is the lesson's third section heading


def lesson_row(lesson: Lesson, progress: Progress) -> Table:
    """One line: status mark, number, title, minutes and status."""
    entry = progress.of(lesson.slug)
    mark, label, style = COMING_LOOK if lesson.coming else STATUS_LOOK.get(entry.status, NOT_STARTED_LOOK)
    row = Table.grid(expand=True, padding=(0, 1))
    row.add_column(width=1)
    row.add_column(width=2, justify="right")
    row.add_column(ratio=1)
    row.add_column(width=6, justify="right", no_wrap=True)
    row.add_column(width=12, no_wrap=True)
    row.add_row(Text(mark, style=style), str(lesson.order), Text(lesson.title, style="bold"),
                f"{lesson.minutes} min", Text(label, style=style, overflow="ellipsis", no_wrap=True))
    return row


def lesson_prompt(lesson: Lesson, progress: Progress) -> Group:
    """The lesson's row, then its promise."""
    return Group(lesson_row(lesson, progress), Padding(Text(lesson.promise, style="dim"), (0, 0, 0, 5)))


def lesson_options(lessons: tuple[Lesson, ...], progress: Progress, sections: bool) -> list[Option]:
    """Home: each lesson with its promise. Contents (`sections`): each lesson on one line with
    its section headings under it, so all fit a small terminal and any section is one Enter away."""
    if not sections:
        return [Option(lesson_prompt(lesson, progress), id=lesson.slug) for lesson in lessons]
    options = []
    for lesson in lessons:
        options.append(Option(lesson_row(lesson, progress), id=lesson.slug))
        options.extend(Option(Text(f"      § {heading}", style="dim", overflow="ellipsis", no_wrap=True),
                              id=f"{lesson.slug}{SECTION_SEPARATOR}{index}")
                       for index, heading in enumerate(lesson.headings))
    return options


class Syllabus(OptionList):
    """One option per lesson (its id is the slug), and in Contents one per section heading;
    selecting one asks the app to open it."""

    def __init__(self, lessons: tuple[Lesson, ...], progress: Progress, highlight: str | None, *,
                 sections: bool = False, id: str | None = None) -> None:
        super().__init__(*lesson_options(lessons, progress, sections), id=id)
        self.sections = sections
        self.initial_highlight = highlight

    def on_mount(self) -> None:
        self.highlight_slug(self.initial_highlight)

    def show_lessons(self, lessons: tuple[Lesson, ...], progress: Progress, highlight: str | None) -> None:
        self.clear_options()
        self.add_options(lesson_options(lessons, progress, self.sections))
        self.highlight_slug(highlight)

    def highlight_slug(self, slug: str | None) -> None:
        try:
            self.highlighted = self.get_option_index(slug) if slug else 0
        except OptionDoesNotExist:  # an unknown slug (a lesson file removed since): start at the top
            self.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        slug, _, section = event.option.id.partition(SECTION_SEPARATOR)
        self.app.open_lesson(slug, section=int(section) if section else None)
