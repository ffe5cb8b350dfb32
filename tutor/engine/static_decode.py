"""Greedy answers with a static KV cache, the one-token step replayed as a CUDA graph.

`model.generate` spends most of a 4-bit 7B token on the host: one decode step is about 420
module calls and 2,500 operator calls (940 and 3,500 with a LoRA), each launched from Python.
With the cache at a fixed size, a decode step has fixed shapes and addresses, so it can be
recorded once (torch.cuda.CUDAGraph) and replayed per token: one launch from Python. On an
H200, 7B shape in NF4, 50 new tokens: 104.4 tok/s against `generate`'s 29.5, 82.5 against 20.2
with a LoRA (medians of 3), the same tokens as `generate`
(bench/results/generate-speed-product-h200-2026-12-02.json).
Unlike torch.compile, recording costs one step, not minutes, and every lab answer runs in a
fresh process.

The graph is recorded per answer and dropped after it: it bakes in which adapter is on
(peft's `disable_adapter` is a Python flag read while recording), and the compare lab
answers with the adapter off, then on.

The token choice is `generate`'s greedy one: float32 logits of the last position through the
logits processors `generate` builds for the same settings, argmax; the answer ends at an EOS
id (`eos_token_id`, one id or a list as `generate` takes it: a chat answer also stops at its
template's end-of-turn token), at `max_new_tokens`, or when `should_stop()` says so after a
token, as generate's stopping criteria do. One row only: two rows in one batch round
differently on CUDA (the bench's base and tuned rows in one batch left their batch-1 answers
at the 9th and the 3rd token).
"""

from __future__ import annotations

import inspect
from typing import Callable


class NotReproducible(Exception):
    """`generate` would decode these settings in a way this loop does not reproduce."""


def greedy_answer(model, input_ids, settings: dict, graphs: bool, on_token: Callable = lambda chosen: None,
                  should_stop: Callable[[], bool] = lambda: False):
    """`model.generate(input_ids, **settings)`'s new tokens for greedy `settings` (see
    static_greedy); raises NotReproducible where `generate` would decode otherwise."""
    processors = greedy_processors(model, settings, input_ids.shape[1], input_ids.device)
    return static_greedy(model, input_ids, settings["max_new_tokens"], processors, settings["eos_token_id"], graphs,
                         on_token, should_stop)


def greedy_processors(model, settings: dict, prompt_length: int, device):
    """The logits processors `model.generate` applies for greedy `settings` (the repetition
    penalty), built by `generate`'s own (private) helpers from the model's generation config,
    so a config that adds a processor is seen; raises NotReproducible when it asks for more
    than greedy search with the repetition penalty. Should transformers change the helpers,
    this raises too, and the caller falls back to `generate`."""
    from transformers.generation import GenerationMode, RepetitionPenaltyLogitsProcessor

    generation_config, _ = model._prepare_generation_config(None, **settings)
    if generation_config.get_generation_mode() != GenerationMode.GREEDY_SEARCH:
        raise NotReproducible(f"the generation config asks for {generation_config.get_generation_mode().value}")
    if generation_config.max_time is not None or generation_config.stop_strings is not None:
        raise NotReproducible("the generation config stops on time or strings")
    processors = model._get_logits_processor(generation_config, input_ids_seq_length=prompt_length, device=device)
    others = [type(p).__name__ for p in processors if not isinstance(p, RepetitionPenaltyLogitsProcessor)]
    if others:
        raise NotReproducible(f"the generation config adds {', '.join(others)}")
    return processors


def static_greedy(model, input_ids, max_new_tokens: int, processors, eos_token_id: int | list[int] | None, graphs: bool,
                  on_token: Callable = lambda chosen: None, should_stop: Callable[[], bool] = lambda: False):
    """The new token ids, [1, <= max_new_tokens], each passed to `on_token` as chosen;
    `graphs=False` runs the same steps eagerly (CPU, and the reference a graph must match).
    Call under torch.inference_mode()."""
    import torch
    from transformers import StaticCache

    if input_ids.shape[0] != 1:
        raise NotReproducible("more than one row")
    prompt_length, device = input_ids.shape[1], input_ids.device
    stop_ids = set(eos_token_id if isinstance(eos_token_id, (list, tuple)) else [eos_token_id]) - {None}
    cache = StaticCache(config=model.config, max_cache_len=prompt_length + max_new_tokens)
    cache_argument = _cache_argument(model)

    def step(ids, positions):
        out = model(input_ids=ids, position_ids=positions, use_cache=True, logits_to_keep=1, **{cache_argument: cache})
        return out.logits[:, -1, :]

    decode = _graphed(step, device) if graphs else _eager(step, device)
    sequence = input_ids
    logits = step(input_ids, torch.arange(prompt_length, device=device)[None])
    for index in range(max_new_tokens):
        chosen = processors(sequence, logits.to(dtype=torch.float32, copy=True)).argmax(-1)
        sequence = torch.cat([sequence, chosen[:, None]], dim=-1)
        on_token(chosen)
        if index == max_new_tokens - 1 or int(chosen) in stop_ids or should_stop():
            break
        logits = decode(chosen, prompt_length + index)
    return sequence[:, prompt_length:]


def _cache_argument(model) -> str:
    """transformers 5.24 renamed the forward's `past_key_values` to `cache` (the old name
    still works, with a warning); the GPU machine may run an earlier 5.x."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _eager(step, device):
    import torch

    def decode(tokens, position: int):
        return step(tokens[:, None], torch.full((1, 1), position, device=device))

    return decode


def _graphed(step, device):
    """decode(tokens, position): the first call runs the step eagerly on a side stream (the
    warm-up a recording needs; its logits are the real ones) and records it; later calls
    copy their inputs into the recorded buffers and replay."""
    import torch

    ids = torch.zeros((1, 1), dtype=torch.long, device=device)
    positions = torch.zeros((1, 1), dtype=torch.long, device=device)
    recorded = {}

    def decode(tokens, position: int):
        ids.copy_(tokens[:, None])
        positions.fill_(position)
        if "graph" in recorded:
            recorded["graph"].replay()
            return recorded["logits"]
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            logits = step(ids, positions)
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # Records only, nothing runs: the cache's write position stays where the warm-up left it.
        with torch.cuda.graph(graph):
            recorded["logits"] = step(ids, positions)
        recorded["graph"] = graph
        return logits.clone()

    return decode
