"""The whole QLoRA cycle on the tiny model, in a child job, on CPU: 4-bit load, baseline,
training with falling loss, saved adapter, reload, a different answer; cancel; errors."""

from __future__ import annotations

import json
import math
import time

import pytest

from tutor.cli import main
from tutor.engine import worker
from tutor.engine.config import RunConfig
from tutor.engine.events import END_STATUSES, EventWriter, invalid, read_all
from tutor.engine.jobs import CONFIG_FILE, SubprocessRunner, write_job, new_run_dir

pytestmark = pytest.mark.slow

def assert_valid_events(events):
    assert [invalid(event) for event in events] == [None] * len(events)
    assert [e["type"] for e in events].count("end") == 1 and events[-1]["type"] == "end"
    assert events[-1]["status"] in END_STATUSES


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One default train run (the notebook's recipe on tiny) through the real child job, on the
    CPU so the step count is the CPU default's on every machine (a GPU packs rows)."""
    run_dir = tmp_path_factory.mktemp("lab") / "run"
    started = time.monotonic()
    handle = SubprocessRunner().start("train", RunConfig(device="cpu"), run_dir)
    assert handle.wait(timeout=400) == "finished", (run_dir / "run.log").read_text()[-3000:]
    return run_dir, read_all(run_dir), time.monotonic() - started


def test_train_run_is_the_full_cycle(trained):
    run_dir, events, seconds = trained
    assert_valid_events(events)
    phases = [e["phase"] for e in events if e["type"] == "phase"]
    assert phases == ["loading", "loading", "quantizing", "baseline", "tokenizing", "training", "saving",
                      "reloading", "generating", "done"]
    model = next(e for e in events if e["type"] == "model")
    assert model["quantized"] and model["teaching"] and model["footprint_bytes"] < model["footprint_16bit_bytes"]
    summary = next(e for e in events if e["type"] == "summary")
    # 50 samples, 8 held out: 42 to train on, 11 steps of batch 4 an epoch, 5 epochs
    assert summary["global_step"] == 55 and not summary["cancelled"]
    print(f"train run: {seconds:.1f} s, summary {summary}")


def test_loss_falls(trained):
    losses = [e["loss"] for e in trained[1] if e["type"] == "progress"]
    assert len(losses) == 55
    first, last = sum(losses[:11]) / 11, sum(losses[-11:]) / 11  # first and last epoch
    assert last < first - 0.3


def test_held_out_loss_is_measured_at_each_epoch_end(trained):
    events = trained[1]
    evals = [e for e in events if e["type"] == "eval"]
    assert [(e["step"], e["epoch"]) for e in evals] == [(11 * n, float(n)) for n in range(1, 6)]
    assert all(e["perplexity"] == pytest.approx(math.exp(e["eval_loss"]), rel=1e-3) for e in evals)
    best = min(evals, key=lambda e: e["eval_loss"])
    summary = next(e for e in events if e["type"] == "summary")
    assert (summary["eval_loss"], summary["best_eval_loss"], summary["best_eval_step"]) == (
        evals[-1]["eval_loss"], best["eval_loss"], best["step"])
    losses = [e["loss"] for e in events if e["type"] == "progress"]
    assert summary["last_step_loss"] == pytest.approx(losses[-1], abs=1e-4)
    assert summary["train_loss"] == pytest.approx(sum(losses) / len(losses), abs=1e-3)


def test_adapter_is_saved_and_the_answer_changes(trained):
    run_dir, events, _ = trained
    assert (run_dir / "adapter" / "adapter_model.safetensors").stat().st_size > 100_000
    adapter_config = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["r"] == 16 and sorted(adapter_config["target_modules"]) == ["k_proj", "o_proj", "q_proj", "v_proj"]
    answers = {e["stream"]: e["text"] for e in events if e["type"] == "generation"}
    print("before:", repr(answers["base"]), "\nafter: ", repr(answers["tuned"]))
    assert answers["base"] and answers["tuned"] and answers["base"] != answers["tuned"]
    for stream, text in answers.items():
        assert "".join(e["text"] for e in events if e["type"] == "token" and e["stream"] == stream) == text


def run_in_process(kind: str, config: RunConfig):
    """The worker's job body without a child process (faster for the checks below)."""
    run_dir = new_run_dir(kind, config.model)
    config.save(run_dir / CONFIG_FILE)
    write_job(run_dir, {"kind": kind})
    writer = EventWriter(run_dir)
    status = worker.run_job(run_dir, writer, worker.CancelFlag())
    writer.emit("end", status=status)
    writer.close()
    return read_all(run_dir)


def test_eval_steps_add_measurements_between_epoch_ends():
    # 20 samples, 5 held out: 15 to train, 4 steps of batch 4 an epoch, 8 in 2 epochs
    events = run_in_process("train", RunConfig(device="cpu", num_samples=20, epochs=2.0, eval_steps=3, max_new_tokens=5))
    assert events[-1]["status"] == "finished"
    assert [(e["step"], e["epoch"]) for e in events if e["type"] == "eval"] == [(3, 0.75), (4, 1.0), (6, 1.5), (8, 2.0)]


def test_compare_reloads_the_adapter_and_reproduces_both_answers(trained):
    run_dir, train_events, _ = trained
    events = run_in_process("compare", RunConfig(device="cpu", adapter=str(run_dir / "adapter")))
    assert_valid_events(events)
    before = {e["stream"]: e["text"] for e in train_events if e["type"] == "generation"}
    after = {e["stream"]: e["text"] for e in events if e["type"] == "generation" and e["index"] == 0}
    assert after == before  # greedy decoding: the same model and prompt give the same answer
    prompts = next(e for e in events if e["type"] == "prompts")
    assert prompts["held_out"] == 8 and prompts["prompts"][0] == RunConfig().prompt
    assert all(p.startswith("I want you to act as") and p.endswith(".") for p in prompts["prompts"][1:])
    answered = [(e["index"], e["stream"]) for e in events if e["type"] == "generation"]
    assert answered == [(i, stream) for i in range(9) for stream in ("base", "tuned")]
    shape = next(e for e in events if e["type"] == "shape")
    assert shape["total"] == 8 and 0 <= shape["base"] <= 8 and 0 <= shape["tuned"] <= 8


def test_cancel_mid_run_saves_a_loadable_adapter(tmp_path):
    handle = SubprocessRunner().start("train", RunConfig(epochs=50), tmp_path / "run")
    tail, steps = handle.tail(), 0
    deadline = time.monotonic() + 300
    while steps < 3 and time.monotonic() < deadline:
        steps = max([steps] + [e["step"] for e in tail.read() if e["type"] == "progress"])
        time.sleep(0.2)
    handle.cancel()
    assert handle.wait(timeout=120) == "cancelled"
    events = read_all(handle.run_dir)
    assert_valid_events(events)
    summary = next(e for e in events if e["type"] == "summary")
    assert summary["cancelled"] and 3 <= summary["global_step"] < 550
    assert any("cancelled at step" in e["message"] for e in events if e["type"] == "warning")
    from peft import AutoPeftModelForCausalLM

    model = AutoPeftModelForCausalLM.from_pretrained(summary["adapter_dir"])
    assert any("lora_B" in name for name, _ in model.named_parameters())


def test_errors_in_the_job_become_error_events_with_hints(tmp_path):
    events = run_in_process("train", RunConfig(dataset="someone/missing-dataset"))
    assert_valid_events(events)
    error = next(e for e in events if e["type"] == "error")
    assert error["error_type"] == "DatasetError" and "bundled" in error["hint"]
    assert events[-1]["status"] == "failed"
    events = run_in_process("generate", RunConfig(target_modules="nope", load_in_4bit=True))
    assert events[-1]["status"] == "finished"  # generate does not touch the LoRA targets
    events = run_in_process("train", RunConfig(target_modules="query_key_value"))
    error = next(e for e in events if e["type"] == "error")
    assert error["error_type"] == "TargetModulesError" and "q_proj" in error["hint"]


def test_headless_train_prints_events_and_exits_by_status(tmp_path, capsys):
    code = main(["train", "--json", "--device", "cpu", "--epochs", "1", "--num-samples", "12", "--max-new-tokens", "5",
                 "--output", str(tmp_path / "cli-run")])
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert_valid_events(events)
    assert next(e for e in events if e["type"] == "summary")["global_step"] == 2  # 12 samples, 5 held out, batch 4
    assert [e["step"] for e in events if e["type"] == "eval"] == [2]
