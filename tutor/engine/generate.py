"""Streaming generation: the answer arrives as `token` events while the model writes it.

Greedy decoding with the seed's repetition penalty, so the same model and prompt always
give the same answer and before/after comparisons are fair.
"""

from __future__ import annotations

import time
from typing import Callable

from tutor.engine.config import RunConfig
from tutor.engine.events import EventWriter


def generate_answer(
    model, tokenizer, config: RunConfig, stream: str, events: EventWriter, should_stop: Callable[[], bool]
) -> str:
    """Answer `config.prompt`, emitting `token` events (stream `base` or `tuned`) and a
    closing `generation` event; returns the answer without the prompt."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

    class EventStreamer(TextStreamer):
        """TextStreamer already cuts the output at word boundaries; emit, don't print."""

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                events.emit("token", stream=stream, text=text)

    class StopWhenCancelled(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs) -> bool:
            return should_stop()

    inputs = tokenizer(config.prompt, return_tensors="pt").to(model.device)
    started = time.monotonic()
    with torch.no_grad():
        output = model.generate(
            **inputs,
            max_new_tokens=config.max_new_tokens,
            repetition_penalty=config.repetition_penalty,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            streamer=EventStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True),
            stopping_criteria=StoppingCriteriaList([StopWhenCancelled()]),
        )
    new_tokens = output[0][inputs["input_ids"].shape[1]:]
    text = tokenizer.decode(new_tokens, skip_special_tokens=True)
    events.emit(
        "generation", stream=stream, prompt=config.prompt, text=text,
        new_tokens=int(new_tokens.shape[0]), seconds=round(time.monotonic() - started, 3),
    )
    return text


def answer_prompts(model, tokenizer, prompts: list[str], config: RunConfig) -> list[str]:
    """Greedy answers to several prompts, one at a time and without events: what the shape
    count (tutor.engine.shape.count_shaped) is measured on, with the lab's decoding settings."""
    import torch

    answers = []
    for prompt in prompts:
        inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
        with torch.no_grad():
            output = model.generate(
                **inputs, max_new_tokens=config.max_new_tokens, repetition_penalty=config.repetition_penalty,
                do_sample=False, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
            )
        answers.append(tokenizer.decode(output[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True))
    return answers
