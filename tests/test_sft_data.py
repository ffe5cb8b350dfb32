"""Data shapes, the validator's messages, and loss masks checked against trl's own preparation."""

from __future__ import annotations

import json

import pytest

from tutor.engine.data import DatasetError, validate
from tutor.engine.sft_data import (
    SHAPE_EXAMPLES, data_report, eos_kept_by_collators, load_rows, tokenize_row, training_tokenizer,
)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tok():
    return training_tokenizer("tiny")


def test_validator_names_each_problem_with_its_row_count_and_rows(tmp_path):
    rows = [
        {"prompt": "Hi", "completion": "Hello"},
        {"prompt": "", "completion": "Hello"},
        {"prompt": "Hi", "completion": None},
        {"prompt": "  ", "completion": "x"},
    ]
    validation = validate(rows)
    assert validation.shape == "prompt-completion" and validation.bad_rows == 3
    assert validation.lines() == [
        "2 rows: empty or missing 'prompt' (row 2, 4)",
        "1 row: empty or missing 'completion' (row 3)",
    ]


def test_validator_checks_conversations():
    rows = [
        {"messages": [{"role": "user", "content": "Hi"}]},
        {"messages": [{"role": "bot", "content": "Hi"}]},
        {"messages": [{"role": "user"}]},
        {"messages": []},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
    ]
    assert validate(rows).lines() == [
        "1 row: no assistant turn: nothing would count toward the loss (row 1)",
        "1 row: a message in 'messages' has role 'bot' (use system, user, assistant) (row 2)",
        "1 row: a message in 'messages' lacks 'role' or 'content' (row 3)",
        "1 row: 'messages' is not a non-empty list of messages (row 4)",
    ]


def test_no_trainable_column_lists_the_columns_and_the_fix():
    with pytest.raises(DatasetError) as info:
        validate([{"question": "a", "answer": "b"}])
    assert "question, answer" in str(info.value) and "prompt and completion" in info.value.hint


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_local_files_load_in_each_format(tmp_path, suffix):
    import pandas as pd

    frame = pd.DataFrame({"prompt": ["a", "b"], "completion": ["c", "d"]})
    path = tmp_path / f"rows.{suffix}"
    {"csv": lambda: frame.to_csv(path, index=False), "parquet": lambda: frame.to_parquet(path),
     "jsonl": lambda: frame.to_json(path, orient="records", lines=True)}[suffix]()
    assert load_rows(str(path)) == [{"prompt": "a", "completion": "c"}, {"prompt": "b", "completion": "d"}]


def test_missing_and_unreadable_files_say_what_is_wrong(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_rows(str(tmp_path / "nope.jsonl"))
    (tmp_path / "notes.md").write_text("hi")
    with pytest.raises(DatasetError, match="not .jsonl"):
        load_rows(str(tmp_path / "notes.md"))
    (tmp_path / "broken.jsonl").write_text("{not json\n")
    with pytest.raises(DatasetError, match="cannot read broken.jsonl"):
        load_rows(str(tmp_path / "broken.jsonl"))


def test_bundled_prompts_are_plain_text_like_the_notebooks():
    report = data_report("bundled")
    assert report.validation.shape == "text" and report.validation.rows == 80 and report.ok
    assert report.lengths.counted_share == 1.0


def test_over_long_rows_are_counted_and_fully_masked_ones_reported_as_dropped(tmp_path, tok):
    long_prompt = "word " * 200
    path = write_jsonl(tmp_path / "rows.jsonl", [
        {"prompt": "Short?", "completion": " Yes."},
        {"prompt": long_prompt, "completion": " Cut off."},
    ])
    report = data_report(str(path), max_length=64)
    assert (report.lengths.over_long, report.lengths.dropped, report.ok) == (1, 1, False)


def test_chat_template_renders_chatml_with_the_assistant_turn_counted(tok):
    row = json.loads(SHAPE_EXAMPLES["messages"].read_text().splitlines()[0])
    text = tok.tokenizer.apply_chat_template(row["messages"], chat_template=tok.chat_template, tokenize=False)
    assert text == (
        "<|im_start|>system\nYou are a concise tutor for QLoRA fine-tuning.<|im_end|>\n"
        "<|im_start|>user\nWhat does the r in LoRA stand for?<|im_end|>\n"
        "<|im_start|>assistant\nThe rank of the update B·A: B is d x r and A is r x d.<|im_end|>\n"
    )
    tokenized = tokenize_row(tok, row, "messages")
    counted = tok.tokenizer.decode([i for i, c in zip(tokenized.ids, tokenized.counted) if c])
    assert counted == "\nThe rank of the update B·A: B is d x r and A is r x d.<|im_end|>\n"


@pytest.mark.parametrize("shape", list(SHAPE_EXAMPLES))
def test_masks_equal_trls_prepared_labels_and_collator_output(tmp_path, tok, shape):
    """Build a real SFTTrainer on tiny and compare its labels with ours, row by row."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from tutor.engine.tiny import ensure_tiny

    rows = load_rows(str(SHAPE_EXAMPLES[shape]))
    model = AutoModelForCausalLM.from_pretrained(ensure_tiny())
    model.resize_token_embeddings(len(tok.tokenizer))
    tok.tokenizer.chat_template = tok.chat_template
    args = SFTConfig(output_dir=str(tmp_path), report_to="none", max_length=None, use_cpu=True,
                     assistant_only_loss=shape == "messages")
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tok.tokenizer)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(rows))])
    for i, row in enumerate(rows):
        ours = tokenize_row(tok, row, shape)
        n = len(ours.ids)
        assert batch["input_ids"][i, :n].tolist() == list(ours.ids)
        assert (batch["labels"][i, :n] != -100).tolist() == list(ours.counted)
        assert (batch["labels"][i, n:] == -100).all()  # padding never counts
    assert 0 < sum(tokenize_row(tok, r, shape).counted_tokens for r in rows)


def test_pad_equal_to_eos_masks_every_eos_in_the_notebooks_collator_but_not_in_trls(tok):
    """The notebook's transformers collator sets labels equal to pad_token_id to -100; with pad =
    eos that includes the real end of every text, so the model is never taught to stop."""
    kept = eos_kept_by_collators(tok)
    assert kept == {"transformers DataCollatorForLanguageModeling (the notebook's)": False,
                    "trl 1.16 SFTTrainer's collator": True}
    assert tok.tokenizer.pad_token == "<pad>"  # the caller's tokenizer is left as it was


def test_a_template_without_generation_markers_serves_text_but_not_conversations(tok):
    from tutor.engine.sft_data import TrainingTokenizer

    plain = TrainingTokenizer(tok.tokenizer, "{% for m in messages %}{{ m['content'] }}{% endfor %}", "mine", "")
    assert tokenize_row(plain, {"text": "Hello"}, "text").counted_tokens > 0
    with pytest.raises(DatasetError, match="no {% generation %} markers"):
        tokenize_row(plain, {"messages": [{"role": "user", "content": "Hi"}]}, "messages")
