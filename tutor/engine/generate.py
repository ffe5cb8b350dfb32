"""Streaming generation: the answer arrives as `token` events while the model writes it.

Greedy decoding by default, with the seed's repetition penalty, so the same model and prompt
always give the same answer and before/after comparisons are fair. With `sampling` on, each
answer draws from the distribution at `temperature`, seeded with `seed` before every answer,
so a sampled answer is still repeatable.
"""

from __future__ import annotations

import time
from typing import Callable

from tutor.engine.config import RunConfig
from tutor.engine.events import EventWriter


def decoding(config: RunConfig) -> dict:
    """`generate()`'s decoding arguments for the config: greedy, or sampling at a temperature."""
    settings = dict(max_new_tokens=config.max_new_tokens, repetition_penalty=config.repetition_penalty,
                    do_sample=config.sampling)
    if config.sampling:
        settings["temperature"] = config.temperature
    return settings


def describe_decoding(config: RunConfig) -> str:
    """The decoding settings in words, for the run's log and the compare screen."""
    how = f"sampling at temperature {config.temperature:g}, seed {config.seed}" if config.sampling else "greedy"
    return f"{how}, repetition penalty {config.repetition_penalty:g}, up to {config.max_new_tokens} new tokens"


def generate_answer(
    model, tokenizer, config: RunConfig, stream: str, events: EventWriter, should_stop: Callable[[], bool],
    prompt: str | None = None, index: int = 0,
) -> str:
    """Answer `prompt` (default `config.prompt`), emitting `token` events (stream `base` or
    `tuned`) and a closing `generation` event, both with the prompt's `index`; returns the
    answer without the prompt."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

    class EventStreamer(TextStreamer):
        """TextStreamer already cuts the output at word boundaries; emit, don't print."""

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                events.emit("token", stream=stream, text=text, index=index)

    class StopWhenCancelled(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs) -> bool:
            return should_stop()

    prompt = config.prompt if prompt is None else prompt
    inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
    if config.sampling:
        torch.manual_seed(config.seed)
    started = time.monotonic()
    with torch.no_grad():
        output = model.generate(
            **inputs,
            **decoding(config),
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            streamer=EventStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True),
            stopping_criteria=StoppingCriteriaList([StopWhenCancelled()]),
        )
    new_tokens = output[0][inputs["input_ids"].shape[1]:]
    text = tokenizer.decode(new_tokens, skip_special_tokens=True)
    events.emit(
        "generation", stream=stream, prompt=prompt, index=index, text=text,
        new_tokens=int(new_tokens.shape[0]), seconds=round(time.monotonic() - started, 3),
    )
    return text
