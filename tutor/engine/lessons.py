"""The lesson catalog: Markdown files with YAML front matter under `lessons/`.

Adding a lesson means adding a file. A lesson body may embed interactive panels with a line
`<!-- panel: package.panels.module:ClassName -->`; the TUI mounts the widget there and
`qlora-tutor show` prints the panel's static report instead, found in the Textual-free
sibling `package.reports.module`. The engine never imports the `lessons` package: it reads the
Markdown beside it, and `resolve_panel` / `resolve_report` load a panel or its report by name
only when a screen or `show` asks for it.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable

import yaml

# `lessons/` sits beside `tutor/`, in a checkout as in site-packages.
LESSONS_DIR = Path(__file__).resolve().parents[2] / "lessons"
PANEL_LINE = re.compile(r"^<!--\s*panel:\s*([\w.]+:\w+)\s*-->\s*$", re.MULTILINE)
FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n(.*)\Z", re.DOTALL)
SECTION_HEADING = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)


class LessonError(ValueError):
    """A lesson file that cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class Question:
    """One check question: multiple choice (`choices` + `answer` index) or numeric."""

    prompt: str
    choices: tuple[str, ...] = ()
    answer: int | None = None
    numeric: float | None = None
    tolerance: float = 0.0
    explain: str = ""

    def is_correct(self, given: str) -> bool:
        given = given.strip()
        if self.choices:
            return given.isdigit() and int(given) == self.answer
        try:
            return abs(float(given.replace(",", "")) - float(self.numeric)) <= self.tolerance
        except ValueError:
            return False


@dataclass(frozen=True)
class Segment:
    """A piece of a lesson body: Markdown text, or a reference to a panel."""

    markdown: str = ""
    panel: str = ""


@dataclass(frozen=True)
class Lesson:
    slug: str
    title: str
    promise: str
    minutes: int
    order: int
    body: str
    coming: bool = False
    exercises: tuple[str, ...] = ()  # slugs of the write-it-yourself exercises this lesson leads to
    quiz: tuple[Question, ...] = field(default_factory=tuple)
    path: Path | None = None

    @property
    def segments(self) -> list[Segment]:
        parts: list[Segment] = []
        last = 0
        for match in PANEL_LINE.finditer(self.body):
            if text := self.body[last : match.start()].strip():
                parts.append(Segment(markdown=text))
            parts.append(Segment(panel=match.group(1)))
            last = match.end()
        if text := self.body[last:].strip():
            parts.append(Segment(markdown=text))
        return parts

    @property
    def headings(self) -> tuple[str, ...]:
        """The lesson's section headings (`## ...`), in order: what Contents lists under it."""
        return tuple(SECTION_HEADING.findall(self.body))


def _question(raw: dict, where: str) -> Question:
    try:
        choices = tuple(str(c) for c in raw.get("choices", ()))
        return Question(
            prompt=str(raw["question"]),
            choices=choices,
            answer=int(raw["answer"]) if choices else None,
            numeric=None if choices else float(raw["numeric"]),
            tolerance=float(raw.get("tolerance", 0.0)),
            explain=str(raw.get("explain", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LessonError(f"{where}: bad quiz question {raw!r}: {exc}") from exc


def parse_lesson(path: Path) -> Lesson:
    text = path.read_text(encoding="utf-8")
    match = FRONT_MATTER.match(text)
    if not match:
        raise LessonError(f"{path.name}: missing '---' front matter")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise LessonError(f"{path.name}: front matter is not valid YAML: {exc}") from exc
    try:
        return Lesson(
            slug=str(meta["slug"]),
            title=str(meta["title"]),
            promise=str(meta["promise"]),
            minutes=int(meta["minutes"]),
            order=int(meta["order"]),
            body=match.group(2),
            coming=bool(meta.get("coming", False)),
            quiz=tuple(_question(q, path.name) for q in meta.get("quiz", ()) or ()),
            exercises=tuple(str(slug) for slug in meta.get("exercises", ()) or ()),
            path=path,
        )
    except KeyError as exc:
        raise LessonError(f"{path.name}: front matter lacks {exc}") from exc


@lru_cache(maxsize=None)
def load_catalog(directory: Path = LESSONS_DIR) -> tuple[Lesson, ...]:
    """All lessons in syllabus order."""
    lessons = sorted((parse_lesson(p) for p in directory.glob("*.md")), key=lambda l: l.order)
    slugs = [l.slug for l in lessons]
    if len(set(slugs)) != len(slugs):
        raise LessonError(f"duplicate lesson slugs in {directory}: {slugs}")
    return tuple(lessons)


def find_lesson(slug: str, directory: Path = LESSONS_DIR) -> Lesson:
    for lesson in load_catalog(directory):
        if lesson.slug == slug:
            return lesson
    valid = ", ".join(l.slug for l in load_catalog(directory))
    raise KeyError(f"unknown lesson '{slug}'. Valid slugs: {valid}")


def resolve_panel(ref: str) -> type:
    """The panel class a lesson names (`module.path:ClassName`); raises what importing it raises."""
    module_name, _, class_name = ref.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def resolve_report(ref: str) -> Callable[[], object]:
    """The static report of the panel a lesson names, without importing the panel's module:
    `pkg.panels.mod:Name` -> `pkg.reports.mod.REPORTS["Name"]`, a function of no arguments
    returning a rich renderable. Raises LessonError when there is none, and what importing
    the reports module raises."""
    module_name, _, class_name = ref.partition(":")
    package, _, module = module_name.rpartition(".")
    parent, _, kind = package.rpartition(".")
    if kind != "panels":
        raise LessonError(f"{module_name} is not in a 'panels' package, so it has no reports module beside it")
    reports_name = f"{parent}.reports.{module}" if parent else f"reports.{module}"
    reports = getattr(importlib.import_module(reports_name), "REPORTS", {})
    if class_name not in reports:
        raise LessonError(f"no report for {class_name}: add {class_name!r} to REPORTS in {reports_name}")
    return reports[class_name]
