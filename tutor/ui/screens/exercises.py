"""The exercises: pick one, edit its file in your editor, and watch it re-checked on every save.

Like `rustlings watch`: the screen polls the selected exercise's file and, when its
modification time or size changes, runs the checks (a child process, off the UI thread)
and shows each check's verdict. Without `$EDITOR` (or over SSH) it says which file to edit.
"""

from __future__ import annotations

import os
import shlex
import subprocess

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from tutor.engine.errors import LabError
from tutor.engine.exercises import (
    NOT_STARTED, PASSING, Exercise, Report, check_and_record, file_stamp, learner_file, load_exercises,
    next_hint, solution_text, start, status,
)
from tutor.engine.progress import exercises_passed

WATCH_SECONDS = 0.5
MARKS = {PASSING: "✓", NOT_STARTED: "○"}


class ExercisesScreen(Screen):
    CSS_PATH = "exercises.tcss"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("e", "edit", "Start / edit"),
        Binding("c", "check", "Check"),
        Binding("i", "hint", "Hint"),
        Binding("s", "solution", "Solution"),
    ]

    def __init__(self, highlight: str | None = None) -> None:
        super().__init__()
        self.exercises = load_exercises()
        self.highlight = highlight
        self.watched_stamp: tuple[int, int] | None = None

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
        with Horizontal(id="exercises"):
            yield OptionList(id="exercise-list")
            with VerticalScroll(id="exercise-detail"):
                yield Static(id="exercise-about")
                yield Static(id="exercise-where")
                yield Static(id="exercise-hint")
                yield Static(id="exercise-results")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Write it yourself"
        self.refresh_list()
        slugs = [e.slug for e in self.exercises]
        options = self.query_one(OptionList)
        options.highlighted = slugs.index(self.highlight) if self.highlight in slugs else 0
        options.focus()
        self.set_interval(WATCH_SECONDS, self.watch_file)

    @property
    def exercise(self) -> Exercise:
        return self.exercises[self.query_one(OptionList).highlighted or 0]

    def refresh_list(self) -> None:
        """Each exercise's status mark, and the count of passing ones in the list's border."""
        options = self.query_one(OptionList)
        for exercise in self.exercises:
            state = status(exercise)
            prompt = f"{MARKS.get(state, '•')} {exercise.order}. {exercise.slug}  {state}"
            if options.option_count < len(self.exercises):
                options.add_option(Option(prompt, id=exercise.slug))
            else:
                options.replace_option_prompt(exercise.slug, prompt)
        passed, total = exercises_passed()
        options.border_title = f"{passed}/{total} passing"

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        exercise = self.exercise
        self.query_one("#exercise-about", Static).update(Content.from_markup(
            "[b]$title[/b]\n$summary", title=f"{exercise.order}. {exercise.title}", summary=exercise.summary))
        self.query_one("#exercise-hint", Static).update("")
        self.query_one("#exercise-results", Static).update(
            f"Last check: {status(exercise)}." if status(exercise) != NOT_STARTED else "")
        self.show_where()
        self.watched_stamp = file_stamp(learner_file(exercise))  # a save from now on triggers a check

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_edit()

    def show_where(self) -> None:
        exercise = self.exercise
        file = learner_file(exercise)
        if not file.exists():
            text = Content("Press e to copy this exercise into your workspace and start it.")
        else:
            text = Content.from_markup(
                "Edit [b]$file[/b] in your editor (over SSH: in another terminal). "
                "Each save is checked here; press c to check now.", file=str(file))
        self.query_one("#exercise-where", Static).update(text)

    def action_edit(self) -> None:
        """Start the exercise if needed, then open it in $VISUAL / $EDITOR when one is set."""
        exercise = self.exercise
        try:
            file, created = start(exercise)
        except LabError as exc:
            self.refuse(exc)
            return
        if created:
            self.watched_stamp = file_stamp(file)  # a fresh copy needs no check; its first save does
            self.query_one("#exercise-results", Static).update("Not checked yet: save the file, or press c.")
        self.refresh_list()
        self.show_where()
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            self.notify(f"No $EDITOR set: edit {file} in your editor; saves are checked here.")
            return
        try:
            with self.app.suspend():
                subprocess.run([*shlex.split(editor), str(file)], check=False)
        except Exception as exc:  # no terminal to hand over (a web or test driver), or no such editor
            self.notify(f"Could not open {editor} ({exc}): edit {file} yourself; saves are checked here.",
                        severity="warning")

    def watch_file(self) -> None:
        stamp = file_stamp(learner_file(self.exercise))
        if stamp is not None and stamp != self.watched_stamp:
            self.watched_stamp = stamp
            self.action_check()

    def action_check(self) -> None:
        if not learner_file(self.exercise).exists():
            self.notify("Start the exercise first: press e.")
            return
        self.query_one("#exercise-results", Static).update("checking…")
        self.run_check(self.exercise)

    @work(thread=True, exclusive=True, group="exercise-check")
    def run_check(self, exercise: Exercise) -> None:
        """In a thread: the checker is a child process that imports torch (seconds)."""
        try:
            report = check_and_record(exercise)
        except LabError as exc:
            self.app.call_from_thread(self.refuse, exc)
            return
        if not get_current_worker().is_cancelled:  # a newer save's check supersedes this one
            self.app.call_from_thread(self.show_report, exercise, report)

    def refuse(self, exc: LabError) -> None:
        self.notify(f"{exc}: {exc.hint}" if exc.hint else str(exc), severity="warning")

    def show_report(self, exercise: Exercise, report: Report) -> None:
        self.refresh_list()
        if exercise is not self.exercise:
            return
        lines = [Content.from_markup("[b]$verdict[/b]", verdict=(
            "All checks pass." if report.passed else "Not yet: fix the first FAIL and save again."))]
        for result in report.results:
            mark = "[green]PASS[/green]" if result.passed else "[red]FAIL[/red]"
            lines.append(Content.from_markup(f"{mark} $check", check=result.check))
            if not result.passed:
                lines.append(Content("     " + result.message.replace("\n", "\n     ")))
        self.query_one("#exercise-results", Static).update(Content("\n").join(lines))

    def action_hint(self) -> None:
        exercise = self.exercise
        try:
            number, text = next_hint(exercise)
        except LabError as exc:
            self.refuse(exc)
            return
        self.query_one("#exercise-hint", Static).update(
            Content(f"Hint {number}/{len(exercise.hints)}: {text}"))

    def action_solution(self) -> None:
        try:
            text = solution_text(self.exercise)
        except LabError as exc:
            self.refuse(exc)
            return
        self.query_one("#exercise-hint", Static).update(Content(text))
