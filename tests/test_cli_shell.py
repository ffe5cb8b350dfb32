"""The command line around the TUI: --version, --help, show, progress, bad slugs."""

from __future__ import annotations

import subprocess
import sys

import pytest
from rich.console import Console

from fixtures import LESSONS
from tutor import __version__
from tutor.cli import main
from tutor.commands.show import print_lesson
from tutor.engine.lessons import LessonError, find_lesson, load_catalog, resolve_report

SLUGS = ["why-qlora", "quantization", "nf4", "lora-rank", "adapter-anatomy",
         "lab-baseline", "lab-train", "lab-compare", "your-data", "plan-your-run"]


def test_the_documented_slugs_are_the_catalog():
    assert [lesson.slug for lesson in load_catalog()] == SLUGS


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"qlora-tutor {__version__}"


@pytest.mark.parametrize("argv", [[], ["show"], ["progress"], ["doctor"]])
def test_help_for_the_command_and_each_subcommand(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: qlora-tutor {' '.join(argv)}".rstrip())


def test_show_prints_a_lesson(capsys):
    assert main(["show", "nf4"]) == 0
    assert find_lesson("nf4").title in capsys.readouterr().out


@pytest.mark.parametrize("module", ["tutor", "tutor.cli"])
@pytest.mark.parametrize("argv", [["show", "nope"], ["--lesson", "nope"]])
def test_unknown_slug_is_one_line_listing_the_valid_ones_and_exit_2(argv, module):
    result = subprocess.run([sys.executable, "-m", module, *argv],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "unknown lesson 'nope'" in line and all(slug in line for slug in SLUGS)


def test_show_prints_panel_reports_and_survives_a_broken_panel():
    console = Console(record=True, width=100)
    print_lesson(find_lesson("intro", LESSONS), console)
    text = console.export_text()
    assert "Some prose before the panel." in text
    assert "demo panel report" in text
    assert "panel fixtures.panels.demo:Missing unavailable: LessonError: no report for Missing" in text
    assert "The end of the intro." in text


def test_every_panel_of_the_lessons_has_exactly_one_report():
    """Each panel line finds its report, and every report belongs to a panel line (no stale ones)."""
    import importlib
    import pkgutil

    import lessons.reports

    refs = {seg.panel for lesson in load_catalog() for seg in lesson.segments if seg.panel}
    assert all(callable(resolve_report(ref)) for ref in refs)
    reported = {
        f"lessons.panels.{info.name}:{name}"
        for info in pkgutil.iter_modules(lessons.reports.__path__)
        for name in getattr(importlib.import_module(f"lessons.reports.{info.name}"), "REPORTS", {})
    }
    assert reported == refs


def test_a_panel_outside_a_panels_package_has_no_report():
    with pytest.raises(LessonError, match="fixtures.demo is not in a 'panels' package"):
        resolve_report("fixtures.demo:DemoPanel")


def test_show_prints_questions_then_answers():
    console = Console(record=True, width=100)
    print_lesson(find_lesson("quizzed", LESSONS), console)
    text = console.export_text()
    assert text.index("How many bits does NF4 use") < text.index("Answers")
    assert "b. 4. NF4 is a 4-bit data type." in text


def test_progress_shows_and_resets(capsys):
    from tutor.engine.progress import load_progress

    load_progress().mark_opened("nf4")
    assert main(["progress"]) == 0
    out = capsys.readouterr().out
    assert "Resume: qlora-tutor --lesson nf4" in out
    assert main(["progress", "--reset"]) == 0
    assert load_progress().last_lesson is None


def test_progress_warns_about_a_corrupt_file(capsys):
    from tutor.paths import progress_file

    progress_file().write_text("not json")
    assert main(["progress"]) == 0
    assert "warning: Progress file was unreadable" in capsys.readouterr().err
