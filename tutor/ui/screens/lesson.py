"""A lesson: Markdown prose with the lesson's interactive panels mounted in between."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Markdown, Static

from tutor.engine.lessons import Lesson, resolve_panel
from tutor.ui.messages import MeasurementPassed
from tutor.ui.widgets.quiz import Quiz


def load_panel(ref: str) -> Widget:
    """Build the panel `module.path:ClassName`; a panel that fails shows a note instead."""
    try:
        return resolve_panel(ref)()
    except Exception as exc:  # one broken panel must not take the lesson down
        return Static(Content(f"Panel {ref} could not load: {type(exc).__name__}: {exc}"),
                      classes="panel-error")


class LessonScreen(Screen):
    BINDINGS = [
        Binding("n", "next_lesson", "Next"),
        Binding("p", "previous_lesson", "Prev"),
        Binding("h", "app.go_home", "Home"),
        Binding("escape", "leave", "Leave field / home", show=False),
        Binding("x", "exercises", "Exercises", show=False),
        Binding("ctrl+r", "start_run", "Start run"),
    ]

    def __init__(self, lesson: Lesson, section: int | None = None) -> None:
        super().__init__()
        self.lesson = lesson
        self.section = section
        # Each Markdown segment reports when its blocks are mounted; only then can the
        # lesson scroll to a section heading or back to where the learner was.
        self.markdown_to_load = sum(1 for segment in lesson.segments if not segment.panel)

    @property
    def neighbours(self) -> tuple[Lesson | None, Lesson | None]:
        catalog = self.app.catalog
        index = catalog.index(self.lesson)
        before = catalog[index - 1] if index > 0 else None
        after = catalog[index + 1] if index + 1 < len(catalog) else None
        return before, after

    def compose(self) -> ComposeResult:
        lesson = self.lesson
        yield Header(icon="≡")
        with VerticalScroll(id="lesson-body"):
            yield Static(f"[b]{lesson.order}. {lesson.title}[/b]  [dim]{lesson.minutes}\u00a0min[/dim]\n"
                         f"[i]{lesson.promise}[/i]", id="lesson-title")
            if lesson.coming:
                yield Static("Coming soon: this lesson is still being written.", id="coming")
            for segment in lesson.segments:
                yield load_panel(segment.panel) if segment.panel else Markdown(segment.markdown)
            if lesson.quiz:
                yield Quiz(lesson.quiz, self.app.progress.of(lesson.slug).best_score)
            if lesson.exercises:
                yield Static(f"Write it yourself: {', '.join(lesson.exercises)}. Press x for the exercises.",
                             id="lesson-exercises")
            yield Static(self.end_note(), id="lesson-end")
        yield Footer()

    def end_note(self) -> str:
        _, after = self.neighbours
        if after is None:
            return "End of the course. Press h for the syllabus."
        return f"End of lesson. Next: {after.order}. {after.title} (press n)."

    def on_mount(self) -> None:
        self.sub_title = f"{self.lesson.order}/{len(self.app.catalog)} · {self.lesson.title}"
        if not self.lesson.coming:
            self.app.progress.mark_opened(self.lesson.slug)
        body = self.query_one("#lesson-body")
        self.watch(body, "scroll_y", self.on_scrolled, init=False)
        self.watch(self, "focused", self.keep_keys_working, init=False)
        body.focus(scroll_visible=False)
        if self.markdown_to_load == 0:
            self.call_after_refresh(self.go_to_place)

    def on_markdown_table_of_contents_updated(self) -> None:
        self.markdown_to_load -= 1
        if self.markdown_to_load == 0:
            self.call_after_refresh(self.go_to_place)

    def go_to_place(self) -> None:
        """Scroll to the section asked for in Contents, else to where the learner last was
        (unless they have moved meanwhile: the prose loads after the first keys work)."""
        body = self.query_one("#lesson-body")
        headings = list(self.query("MarkdownH2"))
        if self.section is not None and self.section < len(headings):
            body.scroll_to_widget(headings[self.section], top=True, animate=False)
        elif (place := self.app.lesson_places.get(self.lesson.slug)) and body.scroll_y == 0:
            body.scroll_to(y=place, animate=False)

    def keep_keys_working(self, focused: Widget | None) -> None:
        """A pressed button that disables itself (Check answers, Start training) drops the
        focus, and with no focus PgDn and ctrl+r have nowhere to go: give it to the prose."""
        if focused is None and self.is_current:
            self.query_one("#lesson-body").focus(scroll_visible=False)

    def on_scrolled(self) -> None:
        body = self.query_one("#lesson-body")
        self.app.lesson_places[self.lesson.slug] = body.scroll_y
        if body.scroll_y >= body.max_scroll_y:
            self.reached_end()

    def reached_end(self) -> None:
        """Reading to the end completes a lesson without a quiz; a quiz must be passed."""
        if not self.lesson.quiz and not self.lesson.coming:
            self.app.progress.mark_done(self.lesson.slug)

    def on_quiz_checked(self, event: Quiz.Checked) -> None:
        self.app.progress.record_quiz(self.lesson.slug, event.score, event.total, event.passed)
        if event.passed:
            self.notify(f"Lesson {self.lesson.order} complete.", title="Quiz passed")

    def on_measurement_passed(self, event: MeasurementPassed) -> None:
        self.app.progress.record_measurement(self.lesson.slug, event.summary)
        self.notify(f"Lesson {self.lesson.order} complete: {event.summary}", title="Measured on this machine")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """ctrl+r belongs to lab lessons only (hidden elsewhere, in the footer and in help)."""
        if action == "start_run":
            return bool(self.query(".lab-panel"))
        return True

    def action_start_run(self) -> None:
        """Start the lesson's lab from anywhere in it, not only from its form."""
        self.query_one(".lab-panel").action_start()

    def action_leave(self) -> None:
        """Escape leaves a field first (keeping what was typed), and goes home only from the prose."""
        body = self.query_one("#lesson-body")
        if self.focused is not None and self.focused is not body:
            body.focus()
        else:
            self.app.action_go_home()

    def action_exercises(self) -> None:
        """Open the exercises at this lesson's first one (or at the first of the course)."""
        self.app.action_exercises(self.lesson.exercises[0] if self.lesson.exercises else None)

    def action_next_lesson(self) -> None:
        self.reached_end()
        _, after = self.neighbours
        if after:
            self.app.open_lesson(after.slug)
        else:
            self.notify("That was the last lesson.")

    def action_previous_lesson(self) -> None:
        before, _ = self.neighbours
        if before:
            self.app.open_lesson(before.slug)
        else:
            self.notify("This is the first lesson.")
