"""The lessons' text against what it claims: every lesson's quiz fits 80 columns, no question
repeats, every lesson names its sources, and the figures it quotes come from the committed
measurements."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from textual.widgets import RadioButton

from bench.qlora_vs_lora import summarize
from tutor.engine.lessons import load_catalog
from tutor.ui.app import create_app
from tutor.ui.widgets.quiz import Quiz

REPO = Path(__file__).resolve().parent.parent
LESSONS = load_catalog()
QUIZZED = [lesson for lesson in LESSONS if lesson.quiz]
RESULTS = REPO / "bench" / "results"


def quiz_only_catalog(lesson, folder: Path):
    """The lesson with its real quiz and a one-line body: the quiz's layout without the panels."""
    text = lesson.path.read_text(encoding="utf-8")
    front_matter = text[: text.index("\n---\n", 4) + 5]
    (folder / lesson.path.name).write_text(front_matter + "A body of one line.\n", encoding="utf-8")
    return load_catalog(folder)


@pytest.mark.parametrize("lesson", QUIZZED, ids=[lesson.slug for lesson in QUIZZED])
async def test_every_quiz_option_is_shown_whole_at_80_columns(lesson, tmp_path):
    app = create_app(catalog=quiz_only_catalog(lesson, tmp_path), start_lesson=lesson.slug)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        quiz = app.screen.query_one(Quiz)
        buttons = list(quiz.query(RadioButton))
        assert len(buttons) == sum(len(q.choices) for q in lesson.quiz)
        for button in buttons:
            box = button.content_region
            lines = button.render().wrap(box.width)  # the toggle and the label, as drawn
            assert len(lines) <= box.height, f"cut off: {button.label.plain!r}"
            assert max(line.cell_length for line in lines) <= box.width


def test_no_question_is_asked_twice_and_every_lesson_has_one():
    prompts = [question.prompt.casefold() for lesson in LESSONS for question in lesson.quiz]
    assert len(prompts) == len(set(prompts))
    assert all(lesson.quiz for lesson in LESSONS if not lesson.coming)


def test_every_lesson_ends_with_its_sources():
    for lesson in LESSONS:
        if not lesson.coming:
            last_paragraph = lesson.body.strip().split("\n\n")[-1]
            assert last_paragraph.lstrip("*").startswith("Sources:"), lesson.slug


def newest_qlora_vs_lora() -> dict:
    """The newest committed result that measured QLoRA against 16-bit LoRA."""
    reports = [json.loads(path.read_text()) for path in sorted(RESULTS.glob("*.json"))]
    measured = [report for report in reports if "qlora_vs_lora" in report]
    assert measured, "no committed result compares QLoRA with 16-bit LoRA"
    return max(measured, key=lambda report: report.get("date", ""))


def test_lesson_3_quotes_the_committed_qlora_vs_lora_step_time():
    configs = newest_qlora_vs_lora()["qlora_vs_lora"]["configs"]
    qlora, lora16 = (configs[name]["median_tokens_per_s"] for name in ("qlora", "lora16"))
    text = " ".join(next(lesson for lesson in LESSONS if lesson.slug == "nf4").body.split())
    assert f"**{lora16 / qlora:.2f}x**" in text
    assert f"QLoRA {qlora:,.0f} tokens/s against {lora16:,.0f}" in text
    peaks = [configs[name]["peak_allocated_bytes"] / 2**30 for name in ("qlora", "lora16")]
    assert "a peak of {:.2f} GiB instead of {:.2f} GiB".format(*peaks) in text
    assert lora16 > qlora  # unpacking 4-bit weights costs time: QLoRA is the slower one


def test_summary_takes_medians_and_bests_over_alternating_repeats():
    def run(config, tokens_per_s):
        return {"config": config, "tokens_per_s": tokens_per_s, "peak_allocated_bytes": 1, "weights_bytes": 1}

    results = [run("qlora", 100), run("lora16", 130), run("qlora", 120), run("lora16", 120), run("qlora", 90),
               run("lora16", 150)]
    summary = summarize(results)
    assert summary["configs"]["qlora"]["median_tokens_per_s"] == 100
    assert summary["configs"]["lora16"]["best_tokens_per_s"] == 150
    assert summary["qlora_step_time_ratio_median"] == pytest.approx(1.3)
    assert summary["qlora_step_time_ratio_best"] == pytest.approx(1.25)
    assert "qlora_step_time_ratio_median" not in summarize(results[:1])


def test_memory_figures_quoted_in_lesson_1_are_the_engines():
    from tutor.engine import memory

    text = " ".join(LESSONS[0].body.split())
    paper = memory.estimate(65e9, "full")
    master = memory.estimate(65e9, "full", convention="master")
    assert f"**{(paper.total - paper.activations) / memory.GB:,.0f} GB**" in text
    assert f"**16 bytes per parameter, {(master.total - master.activations) / memory.GB:,.0f} GB**" in text
    recipe = memory.estimate(65e9, "qlora", rank=64, targets="all-linear")
    assert f"lands at {recipe.total / memory.GB:.1f} GB" in text
    assert re.search(r"14\.5 GB on paper, does not fit a 16 GB card", text)
    assert not memory.fits(memory.estimate(7e9, "lora").total, 16)
