"""`qlora-tutor show SLUG`: print a lesson with rich, no TUI (reading, piping, screen readers)."""

from __future__ import annotations

import argparse

from rich.console import Console

from tutor.commands.errors import CommandError
from tutor.engine.lessons import Lesson, Question, find_lesson


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("show", help="print a lesson to stdout (no TUI)",
                                   description="Print a lesson as plain rich text.")
    parser.add_argument("slug", metavar="SLUG", help="the lesson to print, e.g. nf4")


def panel_report(ref: str):
    """The panel's static report (never the Textual panel itself), or a one-line note when
    the report cannot be made."""
    from tutor.engine.lessons import resolve_report

    try:
        return resolve_report(ref)()
    except Exception as exc:  # a broken report must not stop the lesson from printing
        return f"[dim]\\[panel {ref} unavailable: {type(exc).__name__}: {exc}][/dim]"


def quiz_markdown(quiz: tuple[Question, ...]) -> tuple[str, str]:
    """The questions, and separately their answers (printed after, so readers can try first)."""
    questions, answers = ["## Check yourself"], ["## Answers"]
    for number, question in enumerate(quiz, 1):
        questions.append(f"{number}. {question.prompt}")
        questions.extend(f"    - {letter}. {choice}" for letter, choice in zip("abcdefgh", question.choices))
        if question.choices:
            right = f"{'abcdefgh'[question.answer]}. {question.choices[question.answer]}"
        else:
            right = f"{question.numeric:g}" + (f" (± {question.tolerance:g})" if question.tolerance else "")
        answers.append(f"{number}. **{right}.** {question.explain}".rstrip())  # bold: "40960." is no list marker
    return "\n".join(questions), "\n".join(answers)


def print_lesson(lesson: Lesson, console: Console) -> None:
    from rich.markdown import Markdown  # imported here: `qlora-tutor` builds this parser on every start
    from rich.rule import Rule

    console.print(Rule(f"{lesson.order}. {lesson.title}"))
    console.print(f"[i]{lesson.promise}[/i]  [dim]({lesson.minutes} min)[/dim]\n")
    for segment in lesson.segments:
        console.print(panel_report(segment.panel) if segment.panel else Markdown(segment.markdown))
        console.print()
    if lesson.quiz:
        questions, answers = quiz_markdown(lesson.quiz)
        console.print(Markdown(questions))
        console.print()
        console.print(Markdown(answers))


def run(args: argparse.Namespace) -> int:
    try:
        lesson = find_lesson(args.slug)
    except KeyError as exc:
        raise CommandError(exc.args[0]) from None
    print_lesson(lesson, Console())
    return 0
