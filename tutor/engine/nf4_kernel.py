"""NF4 dequantization with double quantization in one Triton kernel (CUDA only).

bitsandbytes dequantizes a double-quantized weight in three launches: the 8-bit absmax
values, the offset added to them, then the 4-bit codes. In a host-bound QLoRA step every
launch counts, and each 4-bit layer is dequantized three times a step (forward, recompute,
backward), so this kernel does all three at once: each byte holds two NF4 codes (high
nibble first), each block of 64 weights one 8-bit absmax code, each 256 of those one float.
Same arithmetic in float32 as bitsandbytes' kernels; only the rounding of one multiply-add
can differ (fused here), by at most one bf16 step in rare weights.
"""

from __future__ import annotations

import functools

import torch

BYTES_PER_PROGRAM = 1024


@functools.cache
def _kernel():
    import triton
    import triton.language as tl

    @triton.jit
    def nf4_dequantize(packed, absmax_codes, nested_absmax, absmax_code, offset, nf4_levels, out, n_bytes,
                       BYTES_PER_ABSMAX: tl.constexpr, ABSMAX_PER_NESTED: tl.constexpr, BLOCK: tl.constexpr):
        start = tl.program_id(0) * BLOCK
        index = start + tl.arange(0, BLOCK)
        inside = index < n_bytes
        byte = tl.load(packed + index, mask=inside, other=0).to(tl.int32)
        block = index // BYTES_PER_ABSMAX
        code = tl.load(absmax_codes + block, mask=inside, other=0).to(tl.int32)
        scale = (tl.load(absmax_code + code, mask=inside, other=0.0)
                 * tl.load(nested_absmax + block // ABSMAX_PER_NESTED, mask=inside, other=0.0)
                 + tl.load(offset))
        high = tl.load(nf4_levels + (byte >> 4), mask=inside, other=0.0) * scale
        low = tl.load(nf4_levels + (byte & 15), mask=inside, other=0.0) * scale
        pair = 2 * start + tl.arange(0, 2 * BLOCK)
        tl.store(out + pair, tl.interleave(high, low).to(out.dtype.element_ty), mask=pair < 2 * n_bytes)

    return nf4_dequantize


@functools.cache
def _levels(device: torch.device) -> torch.Tensor:
    from bitsandbytes.functional import get_4bit_type

    return get_4bit_type("nf4", device=device)


@functools.cache
def triton_installed() -> bool:
    try:
        import triton  # noqa: F401  (it ships with CUDA builds of torch)
    except ImportError:
        return False
    return True


def supports(state) -> bool:
    """Double-quantized NF4 with an even element count: what QLoRA loads (the seed's config)."""
    return (triton_installed() and state.quant_type == "nf4" and state.nested and state.blocksize % 2 == 0
            and state.shape.numel() % 2 == 0 and state.absmax.dtype == torch.uint8)


def dequantize(weight: torch.Tensor, state, dtype: torch.dtype) -> torch.Tensor:
    """The weight, [out_features, in_features], in `dtype`, from one launch."""
    out = torch.empty(state.shape, dtype=dtype, device=weight.device)
    n_bytes = out.numel() // 2
    grid = (-(-n_bytes // BYTES_PER_PROGRAM),)
    nested = state.state2
    _kernel()[grid](weight, state.absmax, nested.absmax, nested.code, state.offset, _levels(weight.device), out,
                    n_bytes, BYTES_PER_ABSMAX=state.blocksize // 2, ABSMAX_PER_NESTED=nested.blocksize,
                    BLOCK=BYTES_PER_PROGRAM)
    return out
