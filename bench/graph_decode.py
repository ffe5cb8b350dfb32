"""Greedy decoding with a static KV cache and the one-token step replayed as a CUDA graph.

A candidate for tutor.engine.generate, judged by bench/generate_speed.py before any adoption.
`model.generate` spends most of a 4-bit 7B token on the host: about 250 module calls and a
few thousand kernel launches, each from Python. With the cache at a fixed size, one decode
step has fixed shapes and addresses, so it can be recorded once (torch.cuda.CUDAGraph) and
replayed per token: one launch from Python. Unlike torch.compile, recording costs one step,
not minutes, which matters because every lab answer runs in a fresh process.

The token choice is `generate`'s: float32 logits of the last position, the repetition penalty
over prompt and answer so far, argmax; rows that met EOS continue with the pad token.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable


def static_greedy(model, input_ids, max_new_tokens: int, repetition_penalty: float, eos_token_id: int | None,
                  pad_token_id: int, graphs: bool = True, on_token: Callable | None = None, **model_kwargs):
    """The new token ids, [rows, <= max_new_tokens]; `graphs=False` runs the same steps
    eagerly (the CPU path, and the reference the graph must match). `model_kwargs` go to
    every forward."""
    import torch
    from transformers import StaticCache
    from transformers.generation.logits_process import RepetitionPenaltyLogitsProcessor

    rows, prompt_length = input_ids.shape
    device = input_ids.device
    cache = StaticCache(config=model.config, max_cache_len=prompt_length + max_new_tokens)
    penalty = RepetitionPenaltyLogitsProcessor(repetition_penalty)

    def step(ids, positions):
        out = model(input_ids=ids, position_ids=positions, past_key_values=cache, use_cache=True,
                    logits_to_keep=1, **model_kwargs)
        return out.logits[:, -1, :]

    decode = _graphed(step, rows, device) if graphs else _eager(step, rows, device)
    sequences = input_ids
    unfinished = torch.ones(rows, dtype=torch.bool, device=device)
    with torch.inference_mode():
        logits = step(input_ids, torch.arange(prompt_length, device=device).expand(rows, -1))
        for index in range(max_new_tokens):
            chosen = penalty(sequences, logits.float()).argmax(-1)
            chosen = torch.where(unfinished, chosen, torch.full_like(chosen, pad_token_id))
            sequences = torch.cat([sequences, chosen[:, None]], dim=-1)
            if on_token is not None:
                on_token(chosen)
            if eos_token_id is not None:
                unfinished &= chosen != eos_token_id
            if index == max_new_tokens - 1 or not bool(unfinished.any()):
                break
            logits = decode(chosen, prompt_length + index)
    return sequences[:, prompt_length:]


def _eager(step, rows: int, device):
    import torch

    def decode(tokens, position: int):
        return step(tokens[:, None], torch.full((rows, 1), position, device=device))

    return decode


def _graphed(step, rows: int, device):
    """decode(tokens, position): the first call runs the step eagerly on a side stream (the
    warm-up a capture needs; its logits are the real ones) and records it; later calls
    copy their inputs into the recorded buffers and replay."""
    import torch

    ids = torch.zeros((rows, 1), dtype=torch.long, device=device)
    positions = torch.zeros((rows, 1), dtype=torch.long, device=device)
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
        with torch.cuda.graph(graph):  # records only: the cache position stays where the warm-up left it
            recorded["logits"] = step(ids, positions)
        recorded["graph"] = graph
        return logits.clone()

    return decode


@contextmanager
def adapter_rows(model, rows_on: list[bool]):
    """A base row and a tuned row in one batch, recordable: each LoRA update (peft's lora_B
    output) is multiplied by a 0/1 column per row. peft's own `adapter_names` picks rows by
    indexing with a Python list, which copies the index to the GPU in every call, and a
    copy from host memory cannot be recorded. Rows switched on get peft's sum unchanged
    (times 1), rows switched off get the base layer's output plus exactly 0."""
    import torch

    lora_b = [layer for name, layer in model.named_modules() if name.endswith("lora_B.default")]
    device = next(model.parameters()).device
    column = torch.tensor(rows_on, device=device).view(-1, 1, 1)
    hooks = [layer.register_forward_hook(lambda module, args, output: output * column.to(output.dtype))
             for layer in lora_b]
    try:
        yield len(hooks)
    finally:
        for hook in hooks:
            hook.remove()
