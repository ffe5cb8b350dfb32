"""Streaming generation: the answer arrives as `token` events while the model writes it.

Greedy decoding by default, with the QLoRA notebook's repetition penalty, so the same model and prompt
always give the same answer and before/after comparisons are fair. With `sampling` on, each
answer draws from the distribution at `temperature`, seeded with `seed` before every answer,
so a sampled answer is still repeatable.

Whatever state training left the model in, an answer is decoded the inference way: eval
mode (no dropout; gradient checkpointing, which switches the KV cache off, only acts in
train mode), the KV cache on, no autograd records, and 4-bit layers through the libraries'
own inference kernels rather than tutor.engine.training.fastlora's training function, which
dequantizes every weight for every token.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
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
    prompt = config.prompt if prompt is None else prompt
    inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
    started = time.monotonic()
    new_tokens = answer_tokens(
        model, tokenizer, inputs, config,
        lambda text: events.emit("token", stream=stream, text=text, index=index), should_stop,
    )[0]
    text = tokenizer.decode(new_tokens, skip_special_tokens=True)
    events.emit(
        "generation", stream=stream, prompt=prompt, index=index, text=text,
        new_tokens=int(new_tokens.shape[0]), seconds=round(time.monotonic() - started, 3),
    )
    return text


def answer_tokens(model, tokenizer, inputs, config: RunConfig, on_text: Callable[[str], None] | None = None,
                  should_stop: Callable[[], bool] = lambda: False, **generate_kwargs):
    """The new token ids of `model.generate` (one row per prompt row) with the config's
    decoding and the KV cache; `on_text` gets the answer in word-sized pieces as it grows
    (one row only)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

    class EventStreamer(TextStreamer):
        """TextStreamer already cuts the output at word boundaries; pass it on, don't print."""

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                on_text(text)

    class StopWhenCancelled(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs) -> bool:
            return should_stop()

    streamer = EventStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True) if on_text else None
    if config.sampling:
        torch.manual_seed(config.seed)
    with inference_layers(model), torch.inference_mode():
        output = model.generate(
            **inputs,
            **decoding(config),
            use_cache=True,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            streamer=streamer,
            stopping_criteria=StoppingCriteriaList([StopWhenCancelled()]),
            **generate_kwargs,
        )
    return output[:, inputs["input_ids"].shape[1]:]


@contextmanager
def inference_layers(model):
    """Eval mode, and the libraries' own forward for layers that fastlora rerouted; both
    put back afterwards, so training can go on where it was."""
    modes = {module: module.training for module in model.modules()}
    rerouted = [module for module in model.modules() if "_library_forward" in module.__dict__]
    fast = {module: module.__dict__["forward"] for module in rerouted}
    model.eval()
    for module in rerouted:
        module.forward = module._library_forward
    try:
        yield
    finally:
        for module in rerouted:
            module.forward = fast[module]
        for module, training in modes.items():
            module.training = training


def answer_prompts(model, tokenizer, prompts: list[str], config: RunConfig) -> list[str]:
    """Answers to several prompts, one at a time and without events, decoded as the lab
    decodes: what the tiny shape test measures tutor.engine.shape.count_shaped on."""
    return [
        tokenizer.decode(answer_tokens(model, tokenizer, tokenizer(prompt, return_tensors="pt").to(model.device), config)[0],
                         skip_special_tokens=True)
        for prompt in prompts
    ]
