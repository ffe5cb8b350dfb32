"""The lab trains on each of trl's three data shapes: a real train job on tiny per shape, the
trainer's labels held against the masks the data report colours, and bad files refused with
one line before anything loads."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.test_lab_cycle import assert_valid_events, run_in_process
from tutor.cli import main
from tutor.engine.config import RunConfig
from tutor.engine.data import load_training_data, split_held_out
from tutor.engine.sft_data import SHAPE_EXAMPLES, tokenize_row, training_tokenizer

pytestmark = pytest.mark.slow
ROWS = 16  # the four example rows four times over: 5 held out, 11 to train


def example_file(tmp_path, shape: str):
    rows = SHAPE_EXAMPLES[shape].read_text(encoding="utf-8").splitlines() * 4
    path = tmp_path / f"{shape}.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("shape", list(SHAPE_EXAMPLES))
def test_each_shape_trains_to_an_adapter_with_falling_loss_and_a_held_out_measure(tmp_path, shape):
    config = RunConfig(dataset=str(example_file(tmp_path, shape)), device="cpu", num_samples=ROWS, epochs=4.0,
                       learning_rate=1e-3, max_new_tokens=5)
    events = run_in_process("train", config)
    assert_valid_events(events)
    assert events[-1]["status"] == "finished", [e for e in events if e["type"] == "error"]
    tokenizing = next(e for e in events if e["type"] == "phase" and e["phase"] == "tokenizing")
    assert tokenizing["message"].startswith(f"11 {shape} samples, 5 held out")
    losses = [e["loss"] for e in events if e["type"] == "progress"]
    assert len(losses) == 12 and all(math.isfinite(loss) for loss in losses)  # 3 steps of batch 4 an epoch
    assert sum(losses[-3:]) < sum(losses[:3])  # last epoch against the first
    evals = [e["eval_loss"] for e in events if e["type"] == "eval"]
    assert len(evals) == 4 and all(math.isfinite(loss) for loss in evals)
    summary = next(e for e in events if e["type"] == "summary")
    assert (Path(summary["adapter_dir"]) / "adapter_config.json").is_file()
    assert next(e for e in events if e["type"] == "generation" and e["stream"] == "tuned")


@pytest.mark.parametrize("speed", ["seed", "packed"])
@pytest.mark.parametrize("shape", list(SHAPE_EXAMPLES))
def test_the_trainers_labels_are_the_masks_the_report_colours(tmp_path, shape, speed):
    """Every row of the trainer's first batch, against tokenize_row (what `qlora-tutor data`
    and the panels colour) with the report's tokenizer."""
    from tutor.engine import models
    from tutor.engine.presets import detect_targets
    from tutor.engine.training.train import build_trainer

    config = RunConfig(dataset=str(example_file(tmp_path, shape)), device="cpu", num_samples=ROWS, speed=speed,
                       load_in_4bit=False, batch_size=4)
    train, held_out = split_held_out(load_training_data(config), config)
    model, tokenizer = models.load_base(config, models.resolve_model(config.model), "cpu", "fp32", for_training=True)
    trainer = build_trainer(model, tokenizer, train, config, detect_targets(model, "auto"), tmp_path / "out", "cpu",
                            "fp32", [], eval_dataset=held_out)
    report = training_tokenizer(config.model)
    expected = {}
    for row in train:
        tokenized = tokenize_row(report, row, shape)
        expected[tokenized.ids] = tokenized.counted
    batch = next(iter(trainer.get_train_dataloader()))
    compared = 0
    for i, ids in enumerate(batch["input_ids"].tolist()):
        labels = batch["labels"][i].tolist()
        if speed == "packed":  # documents one after another; each document's first token never counts
            starts = [p for p, position in enumerate(batch["position_ids"][i].tolist()) if position == 0]
            spans = zip(starts, starts[1:] + [len(ids)])
        else:
            spans = [(0, int(batch["attention_mask"][i].sum()))]
        for start, end in spans:
            document = tuple(ids[start:end])
            if document not in expected:  # packed: the padding at a row's end
                assert all(label == -100 for label in labels[start:end])
                continue
            counted = [label != -100 for label in labels[start:end]]
            assert counted[1:] == list(expected[document][1:]) and (speed == "packed" or counted[0] == expected[document][0])
            compared += 1
        if speed == "seed":
            assert all(label == -100 for label in labels[spans[0][1]:])
    assert compared >= 4
    if shape != "text":
        assert not all(all(c) for c in expected.values())  # some tokens are masked at all


@pytest.mark.parametrize("rows, says", [
    ([{"prompt": "Hi", "completion": "Hello"}, {"prompt": "", "completion": "Hi"}],
     "1 of the first 2 rows of {path} cannot train as prompt-completion: 1 row: empty or missing 'prompt' (row 2)"),
    ([{"messages": [{"role": "user", "content": "Hi"}]}],
     "cannot train as messages: 1 row: no assistant turn: nothing would count toward the loss (row 1)"),
    ([{"question": "Hi", "answer": "Hello"}], "no column 'prompt' to train on as text (found: question, answer)"),
])
def test_bad_rows_are_refused_with_one_line_through_the_train_command(tmp_path, capsys, rows, says):
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    code = main(["train", "--dataset", str(path), "--device", "cpu", "--output", str(tmp_path / "run")])
    assert code == 1
    err = capsys.readouterr().err.splitlines()
    error = next(line for line in err if line.startswith("qlora-tutor: "))
    assert says.format(path=path) in error
    assert "Traceback" not in "\n".join(err) and all(line.startswith(("run folder", "qlora-tutor: ", "  hint: ")) for line in err)


def test_over_long_samples_are_counted_in_a_warning_and_still_train(tmp_path):
    path = tmp_path / "long.jsonl"
    rows = [{"text": "word " * (300 if i % 4 == 0 else 5)} for i in range(12)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    events = run_in_process("train", RunConfig(dataset=str(path), device="cpu", num_samples=12, epochs=1.0,
                                               eval_fraction=0.0, max_length=64, max_new_tokens=5))
    assert events[-1]["status"] == "finished"
    warning = next(e["message"] for e in events if e["type"] == "warning" and "max_length" in e["message"])
    assert warning.startswith("3 of 12 samples are longer than max_length 64 tokens")


def test_a_conversation_with_a_template_trl_cannot_mask_is_refused_before_training():
    from datasets import Dataset

    from tutor.engine.data import DatasetError
    from tutor.engine.models import load_tokenizer
    from tutor.engine.tiny import ensure_tiny
    from tutor.engine.training.train import with_chat_template

    tokenizer = load_tokenizer(str(ensure_tiny()))
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    rows = Dataset.from_list([json.loads(SHAPE_EXAMPLES["messages"].read_text().splitlines()[0])])
    with pytest.raises(DatasetError, match="no {% generation %} markers"):
        with_chat_template(None, tokenizer, "mine", rows)
