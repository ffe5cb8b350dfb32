"""Checks for exercise 4 (nf4-quantize): byte for byte against bitsandbytes' quantize_4bit."""

import torch
from bitsandbytes.functional import dequantize_4bit, get_4bit_type, quantize_4bit

from tutor.engine.checking import block_mistakes, expect_equal, first_difference

BLOCKSIZE = 64


def _case():
    """A weight-like tensor, bitsandbytes' NF4 table, its packed bytes and state, its indices."""
    x = torch.randn(32, 128, generator=torch.Generator().manual_seed(4)) * 0.02
    code = get_4bit_type("nf4", device="cpu")
    packed, state = quantize_4bit(x, blocksize=BLOCKSIZE, quant_type="nf4")
    packed = packed.flatten()
    indices = torch.stack([packed >> 4, packed & 15], dim=1).flatten()
    return x, code, packed, state, indices


def check_absmax(learner):
    """absmax per block of 64 equals bitsandbytes' QuantState.absmax"""
    x, code, _, state, _ = _case()
    _, absmax = learner.quantize_nf4(x, code, BLOCKSIZE)
    expect_equal("absmax", absmax, state.absmax, block_mistakes(x, BLOCKSIZE), tolerance=1e-9)


def check_indices(learner):
    """every value gets the index of its nearest NF4 level, as bitsandbytes picks it"""
    x, code, _, _, indices = _case()
    ours, _ = learner.quantize_nf4(x, code, BLOCKSIZE)
    unscaled = (x.flatten()[:, None] - code).abs().argmin(dim=-1).to(torch.uint8)
    first_difference("indices", ours, indices, mistakes={
        "you compared raw values with the levels: divide each block by its absmax first": unscaled,
    })
    expect_equal("indices dtype", ours.dtype, torch.uint8)


def check_pack(learner):
    """pack(indices) gives bitsandbytes' bytes: the first index in the high 4 bits"""
    _, _, packed, _, indices = _case()
    swapped = (indices[1::2] << 4) | indices[0::2]
    first_difference("packed bytes", learner.pack(indices), packed, mistakes={
        "you put the first index in the low 4 bits: bitsandbytes puts it in the high 4 (first << 4 | second)": swapped,
    })


def check_dequantize(learner):
    """dequantize_nf4 gives dequantize_4bit's values"""
    _, code, packed, state, indices = _case()
    theirs = dequantize_4bit(packed.reshape(-1, 1), state).flatten()
    ours = learner.dequantize_nf4(indices, state.absmax, code, BLOCKSIZE)
    first_difference("dequantized values", ours, theirs, 1e-7, {
        "you returned the levels without multiplying by their block's absmax": code[indices.long()],
    })
