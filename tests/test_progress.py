"""Progress is saved atomically, restored, and survives a corrupt file."""

from __future__ import annotations

import json

from tutor.engine.progress import DONE, IN_PROGRESS, NOT_STARTED, load_progress
from tutor.paths import progress_file


def test_missing_file_is_empty_progress():
    progress = load_progress()
    assert progress.status("nf4") == NOT_STARTED
    assert progress.last_lesson is None and progress.warning is None


def test_opened_done_and_quiz_are_saved_and_restored():
    progress = load_progress()
    progress.mark_opened("nf4")
    progress.mark_opened("quantization")
    progress.mark_done("quantization")
    progress.record_quiz("nf4", score=1, total=3, passed=False)
    progress.record_quiz("nf4", score=0, total=3, passed=False)

    again = load_progress()
    assert again.last_lesson == "quantization"
    assert again.status("quantization") == DONE
    assert again.status("nf4") == IN_PROGRESS
    assert again.of("nf4").best_score == 1  # the best, not the last


def test_passing_the_quiz_completes_the_lesson():
    progress = load_progress()
    progress.record_quiz("nf4", score=3, total=3, passed=True)
    assert load_progress().status("nf4") == DONE


def test_a_passed_measurement_completes_the_lesson_and_is_kept(capsys):
    from tutor.cli import main

    progress = load_progress()
    progress.mark_opened("plan-your-run")
    progress.record_measurement("plan-your-run", "peak 2.1 GB predicted, 1.9 GB measured (+8 %)")
    again = load_progress()
    assert again.status("plan-your-run") == DONE and again.of("plan-your-run").best_score is None
    assert again.of("plan-your-run").measured == "peak 2.1 GB predicted, 1.9 GB measured (+8 %)"
    assert main(["progress"]) == 0
    assert "peak 2.1 GB predicted, 1.9 GB measured (+8 %)" in capsys.readouterr().out


def test_a_measurement_that_is_not_text_counts_as_corrupt():
    progress_file().parent.mkdir(parents=True, exist_ok=True)
    progress_file().write_text(json.dumps({"lessons": {"plan-your-run": {"status": "done", "measured": 5}}}))
    assert load_progress().warning is not None


def test_reopening_a_done_lesson_keeps_it_done():
    progress = load_progress()
    progress.mark_done("nf4")
    progress.mark_opened("nf4")
    assert load_progress().status("nf4") == DONE


def test_writes_are_atomic_and_leave_no_temporary_files():
    load_progress().mark_opened("nf4")
    path = progress_file()
    assert json.loads(path.read_text())["last_lesson"] == "nf4"
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_corrupt_file_is_backed_up_and_replaced_with_a_warning():
    path = progress_file()
    path.write_text("{ this is not json")
    progress = load_progress()
    assert progress.warning and "started fresh" in progress.warning
    backups = list(path.parent.glob("progress.json.corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text() == "{ this is not json"
    assert json.loads(path.read_text())["lessons"] == {}
    assert load_progress().warning is None  # fixed for next time


def test_wrong_shape_counts_as_corrupt():
    path = progress_file()
    path.write_text(json.dumps({"lessons": {"nf4": {"status": "sort of"}}}))
    assert load_progress().warning


def test_binary_garbage_counts_as_corrupt():
    progress_file().write_bytes(b"\xff\xfe\x00garbage")
    assert load_progress().warning


def test_reset_clears_everything():
    progress = load_progress()
    progress.mark_opened("nf4")
    progress.reset()
    again = load_progress()
    assert again.lessons == {} and again.last_lesson is None
