"""The CPU-side logic of bench/tui_vs_headless.py: options, reading a run folder, the verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakes import MODEL, progress

from bench.tui_vs_headless import BenchError, StepPlan, cli_options, compare, main, plan_steps, run_result, table
from tutor.engine.config import RunConfig


def write_run(run_dir: Path, events: list[dict], config: RunConfig | None = None) -> Path:
    run_dir.mkdir(parents=True)
    (run_dir / "job.json").write_text(json.dumps({"kind": "train", "started_at": 100.0, "pid": None}))
    (config or RunConfig()).save(run_dir / "config.toml")
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return run_dir


FINISHED = [
    {"type": "model", "t": 101.0, **MODEL},
    {"type": "progress", "t": 102.0, **progress(1, 3, 0.2)},
    {"type": "progress", "t": 102.1, **progress(2, 3, 0.1)},
    {"type": "progress", "t": 102.2, **progress(3, 3, 0.3)},
    {"type": "summary", "t": 103.0, "global_step": 3, "train_loss": 2.6, "train_runtime": 2.5, "tokens_per_s": 1500.0,
     "epoch": 1.5, "adapter_dir": "adapter", "cancelled": False},
    {"type": "end", "t": 110.5, "status": "finished"},
]


def test_cli_options_spell_fields_as_the_cli_does() -> None:
    assert cli_options({"max_length": 128, "epochs": 0.5, "batch_size": "auto"}) == [
        "--max-length", "128", "--epochs", "0.5", "--batch-size", "auto"]


def test_a_finished_run_gives_its_figures(tmp_path: Path) -> None:
    result = run_result(write_run(tmp_path / "run", FINISHED), RunConfig())
    assert result == {"tokens_per_s": 1500.0, "steps": 3, "step_s": 0.2, "train_s": 2.5, "wall_s": 10.5, "device": "cpu"}


def test_a_run_with_other_settings_is_refused(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", FINISHED, RunConfig(epochs=1.0))
    with pytest.raises(BenchError, match="other settings.*'epochs': 1.0"):
        run_result(run_dir, RunConfig())


def test_a_failed_run_says_the_jobs_error_and_hint(tmp_path: Path) -> None:
    events = [{"type": "error", "t": 101.0, "error_type": "OutOfMemoryError", "message": "CUDA out of memory",
               "hint": "Lower batch_size."},
              {"type": "end", "t": 102.0, "status": "failed"}]
    with pytest.raises(BenchError, match="CUDA out of memory\n  hint: Lower batch_size."):
        run_result(write_run(tmp_path / "run", events), RunConfig())


def test_a_killed_run_shows_the_end_of_its_log(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", FINISHED[:2])
    (run_dir / "run.log").write_text("loading\nKilled\n")
    with pytest.raises(BenchError, match="without an end event(.|\n)*Killed"):
        run_result(run_dir, RunConfig())


def test_compare_takes_medians_and_the_3_percent_verdict() -> None:
    runs = [{"mode": "headless", "tokens_per_s": t, "step_s": 0.2} for t in (1000, 1010, 990)] + \
           [{"mode": "tui", "tokens_per_s": t, "step_s": s} for t, s in ((975, 0.3), (985, None), (900, 0.1))]
    assert compare(runs) == {"median_tokens_per_s": {"headless": 1000, "tui": 975},
                             "median_step_s": {"headless": 0.2, "tui": 0.2}, "ratio": 0.975, "within": True}
    runs[-2]["tokens_per_s"] = 960
    assert compare(runs)["within"] is False


def test_table_is_markdown_with_a_row_per_run() -> None:
    runs = [{"mode": "headless", "round": 1, "tokens_per_s": 3263.2, "steps": 65, "step_s": 0.082, "train_s": 5.5, "wall_s": 12.1},
            {"mode": "tui", "round": 1, "tokens_per_s": 3353.0, "steps": 65, "step_s": None, "train_s": 5.3, "wall_s": 12.2,
             "app_cpu_s": 2.0}]
    lines = table(runs).splitlines()
    assert lines[0] == "| mode | round | tokens/s | median step s | steps | train s | wall s | app CPU s |"
    assert lines[2] == "| headless | 1 | 3,263 | 0.082 | 65 | 5.5 | 12.1 | - |"
    assert lines[3] == "| tui | 1 | 3,353 | - | 65 | 5.3 | 12.2 | 2.00 |"


def test_step_plan_counts_steps_as_the_trainer_does() -> None:
    plan = StepPlan("cuda", samples=68, rows=16, packed=True, batch=8)
    assert plan.steps_per_epoch == 2 and plan.steps(30) == 60 and plan.steps(2.25) == 5
    assert plan.epochs_for(60) == 30 and plan.epochs_for(61) == 31


def test_packed_prompts_make_the_h100_runs_40_steps() -> None:
    """docs/benchmarks.md: 20 epochs of the 50 default prompts, batch 8 x 256, packed, trained 40 steps."""
    plan = plan_steps({"speed": "packed", "batch_size": 8, "device": "cpu"})
    assert (plan.samples, plan.rows, plan.steps(20)) == (42, 10, 40)
    assert plan_steps({"device": "cpu", "num_samples": 80}).steps(4) == 68  # padded, batch 4: 17 an epoch


def test_settings_that_train_too_few_steps_are_refused_in_one_line(monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.argv", ["tui_vs_headless.py", "--device", "cpu", "--epochs", "2"])
    assert main() == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == ("tui_vs_headless: these settings train 34 steps a run, fewer than --min-steps 60: "
                       "use more --epochs (at least 4)")
