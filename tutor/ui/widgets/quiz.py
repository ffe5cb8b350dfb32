"""The check questions at the end of a lesson: answer, check, read the explanations, retry."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, RadioButton, RadioSet, Static

from tutor.engine.lessons import Question


class AnswerChoice(RadioButton):
    """A choice whose label wraps (with `text-wrap: wrap` in the app's CSS): Textual's radio
    button is always one line high, which cut long answers at 80 columns."""

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self.render().wrap(width))


class Quiz(Vertical):
    """All of a lesson's questions; the quiz is passed when every answer is right."""

    class Checked(Message):
        """Posted after each check, with the score of that attempt."""

        def __init__(self, score: int, total: int) -> None:
            super().__init__()
            self.score = score
            self.total = total

        @property
        def passed(self) -> bool:
            return self.score == self.total

    def __init__(self, questions: tuple[Question, ...], best_score: int | None = None) -> None:
        super().__init__(id="quiz")
        self.questions = questions
        self.best_score = best_score
        self.last_score: int | None = None
        self.to_show: tuple[Widget, bool] | None = None  # scrolled to once the quiz re-laid out

    def compose(self) -> ComposeResult:
        yield Static("Check yourself", classes="quiz-heading")
        for number, question in enumerate(self.questions, 1):
            with Vertical(classes="question"):
                yield Static(Content(f"{number}. {question.prompt}"), classes="prompt")
                yield self.answer_field(question)
                yield Static(classes="verdict")
        with Horizontal(classes="quiz-buttons"):
            yield Button("Check answers", id="check", variant="primary")
            yield Button("Try again", id="retry", disabled=True)
        yield Static(self.score_line(), id="quiz-score")

    @staticmethod
    def answer_field(question: Question) -> RadioSet | Input:
        if question.choices:
            return RadioSet(*(AnswerChoice(Content(choice)) for choice in question.choices))
        return Input(placeholder="your answer (a number)")

    def score_line(self) -> str:
        total = len(self.questions)
        parts = [f"Last try: {self.last_score}/{total}."] if self.last_score is not None else []
        if self.best_score is not None:
            parts.append(f"Best: {self.best_score}/{total}.")
        parts.append(f"Get all {total} right to complete the lesson.")
        return " ".join(parts)

    def answer_given(self, block: Vertical, question: Question) -> str:
        if question.choices:
            return str(block.query_one(RadioSet).pressed_index)
        return block.query_one(Input).value

    def check(self) -> None:
        score = 0
        for block, question in zip(self.query(".question"), self.questions):
            right = question.is_correct(self.answer_given(block, question))
            score += right
            verdict = "✓ Right." if right else "✗ Not quite."
            block.query_one(".verdict", Static).update(Content(f"{verdict} {question.explain}".strip()))
            block.set_class(right, "-right")
            block.set_class(not right, "-wrong")
            for answer in block.query("RadioSet, Input"):
                answer.disabled = True
        self.last_score = score
        self.best_score = max(score, self.best_score or 0)
        self.query_one("#quiz-score", Static).update(self.score_line())
        self.query_one("#check", Button).disabled = True
        retry = self.query_one("#retry", Button)
        retry.disabled = False
        retry.focus(scroll_visible=False)
        self.to_show = (self.query_one("#quiz-score"), False)  # below the verdicts' new lines
        self.post_message(self.Checked(score, len(self.questions)))

    def on_resize(self) -> None:
        """Check and Try again show or hide the verdicts: only once the quiz has its new
        height can the view scroll to the score, or back to question 1."""
        if self.to_show:
            widget, top = self.to_show
            self.to_show = None
            widget.scroll_visible(top=top, animate=False)

    async def retry(self) -> None:
        """Start over with blank answers (the best score is kept), at question 1.

        Each answer field is replaced in place (new before old goes), so the fields never
        leave a gap that would clamp the lesson's scroll position on the way."""
        for block, question in zip(self.query(".question"), self.questions):
            old = block.query_one("RadioSet, Input")
            await block.mount(self.answer_field(question), before=old)
            await old.remove()
            block.remove_class("-right", "-wrong")
        self.query_one("#check", Button).disabled = False
        self.query_one("#retry", Button).disabled = True
        first = self.query(".question").first()
        first.query_one("RadioSet, Input").focus(scroll_visible=False)
        self.to_show = (first, True)

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "check":
            self.check()
        else:
            await self.retry()
