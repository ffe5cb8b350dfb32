"""Packed training without an attention mask: PyTorch's variable-length flash attention.

trl packs whole documents into rows and (padding-free) flattens a batch into one row, handing
the model `cu_seq_lens_q/k`: where each document starts. Under SDPA, transformers turns that
into a dense document mask over the whole row, and SDPA leaves flash for a masked kernel that
computes every cross-document block only to mask it out.

`torch.nn.attention.varlen.varlen_attn` (PyTorch >= 2.10) runs flash attention per document
straight from those offsets: no mask, no wasted blocks. This module registers it with
transformers' attention interface as `VARLEN`. Without offsets (generation, padded batches)
or where the kernel cannot run, the function hands over to transformers' own SDPA, and the
mask function is SDPA's, so every call is correct whichever path it takes.

The lab keeps packed rows as rows (tutor/engine/training/packing.py); this is the speed
benchmark's `varlen` ablation (bench/ablations.py), measured slower than rows at 512 tokens
(docs/benchmarks.md). It is the path to revisit for long rows, where masked attention grows
with the square of the row.
"""

from __future__ import annotations

import inspect
import math
from functools import lru_cache

VARLEN = "tutor_varlen"


@lru_cache(maxsize=1)
def _kernel():
    """(varlen_attn, its parameter names), or None on a PyTorch without it."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn, frozenset(inspect.signature(varlen_attn).parameters)


def varlen_attention_forward(module, query, key, value, attention_mask, dropout: float = 0.0,
                             scaling: float | None = None, cu_seq_lens_q=None, cu_seq_lens_k=None,
                             max_length_q: int | None = None, max_length_k: int | None = None, **kwargs):
    """transformers attention function: [1, heads, tokens, dim] in, [1, tokens, heads, dim] out."""
    call = _varlen_call(query, key, scaling, dropout, module, cu_seq_lens_q, max_length_q)
    if call is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, **kwargs)
    kernel, options = call
    heads, tokens, dim = query.shape[1], query.shape[2], query.shape[3]
    out = kernel(
        query[0].transpose(0, 1), key[0].transpose(0, 1), value[0].transpose(0, 1),
        cu_seq_lens_q, cu_seq_lens_k if cu_seq_lens_k is not None else cu_seq_lens_q,
        max_length_q, max_length_k if max_length_k is not None else max_length_q, **options,
    )
    return out.reshape(1, tokens, heads, dim), None


def _varlen_call(query, key, scaling, dropout, module, cu_seq_lens, max_length):
    """(kernel, keyword options) when varlen flash can compute this call exactly, else None."""
    found = _kernel()
    if found is None or cu_seq_lens is None or max_length is None or dropout:
        return None
    if query.shape[0] != 1 or not query.is_cuda or query.dtype.itemsize != 2 or query.shape[-1] > 256:
        return None
    kernel, params = found
    options = kernel_options(params, scaling, query.shape[-1], query.shape[1], key.shape[1],
                             getattr(module, "sliding_window", None))
    return None if options is None else (kernel, options)


def kernel_options(params: frozenset, scaling: float | None, head_dim: int, query_heads: int, kv_heads: int,
                   sliding_window: int | None) -> dict | None:
    """Causal attention in the words of this PyTorch's varlen_attn (2.10 says `is_causal`, later
    releases a `window_size`), or None where this release cannot express the call."""
    options: dict = {}
    if "window_size" in params:
        options["window_size"] = (sliding_window - 1 if sliding_window else -1, 0)  # (-1, 0): plain causal
    elif sliding_window:
        return None
    else:
        options["is_causal"] = True
    if "scale" in params:
        options["scale"] = scaling
    elif scaling is not None and not math.isclose(scaling, head_dim ** -0.5):
        return None
    if kv_heads != query_heads:
        if "enable_gqa" not in params:
            return None
        options["enable_gqa"] = True
    return options


def register() -> str:
    """Make `VARLEN` a valid `attn_implementation` (idempotent); returns its name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(VARLEN, varlen_attention_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(VARLEN, sdpa_mask)
    return VARLEN


def varlen_unavailable_reason(model) -> str | None:
    """Why packed training cannot use varlen flash on this model and machine, or None if it can."""
    import torch

    if _kernel() is None:
        return f"PyTorch {torch.__version__} has no torch.nn.attention.varlen (2.10 or newer has)"
    if not torch.cuda.is_available() or torch.cuda.get_device_capability() < (8, 0):
        return "flash attention needs an NVIDIA GPU of compute capability 8.0 or newer"
    if not getattr(model, "_supports_attention_backend", False):
        return f"{type(model).__name__} computes attention its own way (no attention backends)"
    current = getattr(model.config, "_attn_implementation", None)
    if current not in ("sdpa", VARLEN):
        return f"the model was loaded with attn_implementation={current!r}"
    return None
