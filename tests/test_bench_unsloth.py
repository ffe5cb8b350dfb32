"""bench/unsloth_speed.py's failure path: what a doc can quote when Unsloth will not import or run."""

import json
import subprocess
import sys
from pathlib import Path

from bench.unsloth_speed import collect

REPO = Path(__file__).resolve().parent.parent


def test_a_child_whose_unsloth_raises_on_import_writes_the_error_type_and_first_line(tmp_path):
    fake = tmp_path / "site" / "unsloth"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        'raise NotImplementedError("Unsloth cannot find any torch accelerator\\nYou need a GPU.")')
    result = tmp_path / "result.json"
    child = subprocess.run(
        [sys.executable, str(REPO / "bench" / "unsloth_speed.py"), "--config", "unsloth", "--model", "smoke",
         "--folder", str(tmp_path / "none"), "--result", str(result)],
        env={"PYTHONPATH": f"{tmp_path / 'site'}:{REPO}", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)

    assert child.returncode == 1
    entry = json.loads(result.read_text())
    assert entry["error_type"] == "NotImplementedError"
    assert entry["error"] == "Unsloth cannot find any torch accelerator"
    assert entry["stage"] == "import unsloth"
    assert (entry["config"], entry["model"]) == ("unsloth", "smoke")

    kind, failure = collect(result, child.returncode, ["last line\n"], "unsloth", "smoke")
    assert kind == "failure"
    assert failure["error"] == "Unsloth cannot find any torch accelerator"
    assert failure["exit_code"] == 1


def test_a_child_killed_before_writing_is_a_failure_with_its_output_tail(tmp_path):
    empty = tmp_path / "result.json"
    empty.write_text("")  # mkstemp made it; the child never wrote

    kind, failure = collect(empty, -9, ["step 3\n", "[killed after 60 s]\n"], "unsloth", "llama2-7b")

    assert kind == "failure"
    assert failure == {"config": "unsloth", "model": "llama2-7b", "exit_code": -9,
                       "output_tail": "step 3\n[killed after 60 s]\n"}


def test_a_child_that_wrote_its_row_and_exited_0_is_a_result(tmp_path):
    row = {"config": "unsloth", "model": "qwen2-1.5b", "tokens_per_s": 1234.0}
    path = tmp_path / "result.json"
    path.write_text(json.dumps(row))

    assert collect(path, 0, [], "unsloth", "qwen2-1.5b") == ("result", row)
    assert collect(path, 139, ["Segmentation fault\n"], "unsloth", "qwen2-1.5b")[0] == "failure"


def test_the_unsloth_config_pins_transformers_defaults_over_unsloths_own():
    """Unsloth's SFTConfig defaults to gradient accumulation 2 (the first H200 run trained 8 rows a
    step so); pinned, every config trains the same rows a step with the same schedule."""
    from transformers import TrainingArguments

    from bench.unsloth_speed import SETTINGS, TRANSFORMERS_DEFAULTS

    stock = TrainingArguments(output_dir=str(REPO / "unused"))
    assert {key: getattr(stock, key) for key in TRANSFORMERS_DEFAULTS} == TRANSFORMERS_DEFAULTS
    assert SETTINGS["gradient_accumulation_steps"] == 1


def test_the_benchmark_refuses_to_count_a_run_with_gradient_accumulation():
    """One collated batch is one step only without accumulation; a rate would be off by the factor."""
    from types import SimpleNamespace

    import pytest

    from bench.train_speed import instrument

    trainer = SimpleNamespace(args=SimpleNamespace(gradient_accumulation_steps=2), data_collator=None,
                              training_step=None)
    with pytest.raises(ValueError, match="gradient_accumulation_steps = 2"):
        instrument(trainer, pad_token_id=0)
    trainer.args.gradient_accumulation_steps = 1
    assert instrument(trainer, pad_token_id=0) == ([], [])
