"""Answers are asked the way the adapter was trained: after training on conversations, the
train job's before/after answers and the compare job's are one user turn through the training
chat template, with the generation prompt, stopping at its end-of-turn token; after training
on text, the prompt is plain text as before. Real train and compare jobs on tiny (CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_lab_cycle import assert_valid_events, run_in_process
from tests.test_train_shapes import example_file
from tutor.engine import generate
from tutor.engine.config import RunConfig
from tutor.engine.events import describe
from tutor.engine.generate import ASKED_AS_CHAT, TRAINING_DATA_FILE
from tutor.engine.models import load_tokenizer

pytestmark = pytest.mark.slow
PROMPT = "What does the r in LoRA stand for?"


@pytest.fixture
def asked(monkeypatch):
    """Every answer's prompt ids and stop ids, as they reach the decoding."""
    seen = []
    real = generate.answer_tokens

    def recording(model, tokenizer, inputs, config, *args, chat=False, **kwargs):
        stops = generate.decoding(config, tokenizer, chat)["eos_token_id"]
        seen.append((inputs["input_ids"][0].tolist(), stops))
        return real(model, tokenizer, inputs, config, *args, chat=chat, **kwargs)

    monkeypatch.setattr(generate, "answer_tokens", recording)
    return seen


def train(tmp_path, shape: str) -> tuple[list[dict], Path]:
    config = RunConfig(dataset=str(example_file(tmp_path, shape)), device="cpu", num_samples=8, epochs=1.0,
                       eval_fraction=0.0, learning_rate=1e-3, max_new_tokens=6, prompt=PROMPT)
    events = run_in_process("train", config)
    assert_valid_events(events)
    assert events[-1]["status"] == "finished", [e for e in events if e["type"] == "error"]
    return events, Path(next(e for e in events if e["type"] == "summary")["adapter_dir"])


def answers(events: list[dict]) -> dict[str, str]:
    return {e["stream"]: e["text"] for e in events if e["type"] == "generation" and e.get("index", 0) == 0}


def test_after_training_on_conversations_the_answers_are_chat_turns(tmp_path, asked):
    events, adapter = train(tmp_path, "messages")
    assert next(e for e in events if e["type"] == "summary")["data_shape"] == "messages"
    assert json.loads((adapter / TRAINING_DATA_FILE).read_text()) == {"shape": "messages", "chat": True}
    assert ASKED_AS_CHAT in [e["message"] for e in events if e["type"] == "log"]

    tokenizer = load_tokenizer(str(adapter))  # the tokenizer and template the trainer used
    im_start, im_end = tokenizer.convert_tokens_to_ids(["<|im_start|>", "<|im_end|>"])
    chat_ids = tokenizer.apply_chat_template([{"role": "user", "content": PROMPT}], add_generation_prompt=True,
                                             return_dict=True)["input_ids"]
    assert tokenizer.decode(chat_ids).endswith(f"<|im_start|>user\n{PROMPT}<|im_end|>\n<|im_start|>assistant\n")
    assert chat_ids != tokenizer(PROMPT)["input_ids"]
    assert asked == [(chat_ids, [tokenizer.eos_token_id, im_end])] * 2  # before and after training
    assert chat_ids.count(im_start) == 3  # the template's system turn, the user's, the assistant's opening
    generations = [e for e in events if e["type"] == "generation"]
    assert [e["asked_as"] for e in generations] == [ASKED_AS_CHAT] * 2

    asked.clear()
    compared = run_in_process("compare", RunConfig(device="cpu", adapter=str(adapter), max_new_tokens=6, prompt=PROMPT))
    assert_valid_events(compared)
    prompts = next(e for e in compared if e["type"] == "prompts")
    assert prompts["asked_as"] == ASKED_AS_CHAT and describe(prompts).endswith(f"; {ASKED_AS_CHAT}")
    assert asked == [(chat_ids, [tokenizer.eos_token_id, im_end])] * 2  # base (adapter off), then tuned
    assert answers(compared) == answers(events)  # greedy: the same model asked the same way says the same


def test_after_training_on_text_the_prompt_stays_plain_text(tmp_path, asked):
    events, adapter = train(tmp_path, "text")
    assert next(e for e in events if e["type"] == "summary")["data_shape"] == "text"
    assert json.loads((adapter / TRAINING_DATA_FILE).read_text()) == {"shape": "text", "chat": False}
    tokenizer = load_tokenizer(str(adapter))
    assert asked == [(tokenizer(PROMPT)["input_ids"], tokenizer.eos_token_id)] * 2
    assert not any("asked_as" in e for e in events) and ASKED_AS_CHAT not in str(events)
