"""Pilot tests of the your-data and plan-your-run panels at 80x24: pick, type, wait, read."""

from __future__ import annotations

import json

import pytest
from conftest import wait_until
from test_theory_panels import Harness, as_text, assert_nothing_cut_off, settle, shown, type_into
from textual.widgets import Button, Select

from lessons.panels.plan_run import PlanPanel
from lessons.panels.your_data import PadEosPanel, TokenMaskPanel
from lessons.reports.plan_run import plan_report
from lessons.reports.your_data import token_mask_report
from tutor.engine.lessons import find_lesson
from tutor.engine.sft_data import SHAPE_EXAMPLES

SIZE = (80, 24)


@pytest.mark.parametrize("panel", [TokenMaskPanel, PadEosPanel, PlanPanel], ids=lambda p: p.__name__)
async def test_nothing_cut_off_at_80x24(panel):
    app = Harness(panel)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "computing" not in shown(app, "#result")
        assert_nothing_cut_off(app, SIZE[0])


async def test_token_panel_switches_shape_and_reads_the_learners_file(tmp_path):
    app = Harness(TokenMaskPanel)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "only the assistant's turns count" in shown(app, "#result")
        app.query_one("#source", Select).value = str(SHAPE_EXAMPLES["prompt-completion"])
        await settle(app, pilot)
        assert "only the completion counts" in shown(app, "#result")
        own = tmp_path / "mine.jsonl"
        own.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"}]}) + "\n"
                       + json.dumps({"messages": [{"role": "user", "content": "Hi"},
                                                  {"role": "assistant", "content": "Hello!"}]}) + "\n")
        await type_into(pilot, app, "#path", str(own))
        await pilot.press("enter")
        await settle(app, pilot)
        result = shown(app, "#result")
        assert "1 row: no assistant turn" in result and "row 2, as the trainer sees it" in result
        await type_into(pilot, app, "#path", str(tmp_path / "missing.csv"))
        await pilot.press("enter")
        await settle(app, pilot)
        assert "does not exist" in shown(app, "#result")


async def test_pad_eos_panel_shows_the_notebooks_collator_masking_the_eos():
    app = Harness(PadEosPanel)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "masked (-100)" in shown(app, "#result") and "counts" in shown(app, "#result")


async def test_plan_panel_follows_the_settings_and_measures_on_a_cpu(monkeypatch):
    """On a CPU, whatever the machine: on a GPU, Measure would really train 20 steps of the
    qwen3-1.7b plan at batch 64 x 8192 typed below, minutes of a suite's time."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    app = Harness(PlanPanel)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert "qwen3-1.7b on T4 16 GB" in shown(app, "#result") and "fits" in shown(app, "#result")
        await type_into(pilot, app, "#batch_size", "0")
        await pilot.press("enter")
        assert "batch size: 1 to 1024" in shown(app, "#message")
        await type_into(pilot, app, "#batch_size", "64")
        await type_into(pilot, app, "#max_length", "8192")
        await pilot.press("enter")
        await settle(app, pilot)
        assert "does not fit" in shown(app, "#result")
        app.query_one("#measure", Button).press()
        await pilot.pause()  # the press is a message: the worker starts when it is handled
        await settle(app, pilot)
        assert "No CUDA GPU here" in shown(app, "#measured") and "bloomz-560m" in shown(app, "#measured")


async def test_a_plan_measured_within_tolerance_completes_the_capstone(monkeypatch):
    """The GPU measurement is replaced by its outcome (CI has no GPU): a passing one is kept
    in progress and completes the lesson; a failing one leaves it open."""
    from rich.text import Text

    import lessons.panels.plan_run as plan_run
    from fakes import FakeRunner
    from tutor.engine.progress import DONE, load_progress
    from tutor.ui.app import create_app

    outcomes = iter([(Text("peak off by 31 %"), None), (Text("peak off by 6 %"), "qwen3-1.7b: within 15 %")])
    monkeypatch.setattr(plan_run, "measured", lambda settings: next(outcomes))
    app = create_app(start_lesson="plan-your-run", runner=FakeRunner())
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        button = app.screen.query_one("#measure", Button)
        button.press()
        await wait_until(pilot, lambda: "off by 31" in shown(app.screen, "#measured"))
        assert load_progress().status("plan-your-run") != DONE
        button.press()
        await wait_until(pilot, lambda: load_progress().status("plan-your-run") == DONE)
    assert load_progress().of("plan-your-run").measured == "qwen3-1.7b: within 15 %"


@pytest.mark.parametrize("slug", ["your-data", "plan-your-run"])
def test_new_lessons_have_quizzes_panels_and_sources(slug):
    lesson = find_lesson(slug)
    assert not lesson.coming and 3 <= len(lesson.quiz) <= 4
    assert any(seg.panel for seg in lesson.segments) and "Sources:" in lesson.body


def test_reports_print_for_show():
    assert "as the trainer sees it" in as_text(token_mask_report())
    assert "+2.6%" in as_text(plan_report())
