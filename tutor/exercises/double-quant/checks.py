"""Checks for exercise 5 (double-quant): against a real nested QuantState of bitsandbytes."""

import torch
from bitsandbytes.functional import dequantize_blockwise, quantize_4bit

from tutor.engine.checking import expect, expect_equal, first_difference


def _state(blocksize=64):
    """A real double-quantized QuantState and the fp32 constants it compressed."""
    x = torch.randn(64 * 256 * 4, generator=torch.Generator().manual_seed(5))
    _, state = quantize_4bit(x, blocksize=blocksize, quant_type="nf4", compress_statistics=True)
    return x.reshape(-1, blocksize).abs().amax(dim=1), state


def check_offset(learner):
    """offset: the mean of the constants, as QuantState.offset"""
    absmax, state = _state()
    _, _, offset = learner.double_quantize(absmax, state.state2.code)
    expect_equal("offset", float(offset), state.offset.item(), {
        "the constants are all positive: subtract their mean before quantizing, and return it as the offset": 0.0,
    }, tolerance=1e-6)


def check_second_level_absmax(learner):
    """absmax2: one per block of 256 centred constants, as QuantState.state2.absmax"""
    absmax, state = _state()
    _, absmax2, _ = learner.double_quantize(absmax, state.state2.code)
    expect_equal("absmax2", absmax2, state.state2.absmax, {
        "you did not subtract the mean (offset) before taking the block absmax": absmax.reshape(-1, 256).amax(dim=1),
        "you took one absmax for all constants; take one per block of 256": (absmax - absmax.mean()).abs().max(),
    }, tolerance=1e-6)


def check_indices(learner):
    """8-bit codes of the constants agree with bitsandbytes' for at least 99 % of them"""
    absmax, state = _state()
    indices, _, _ = learner.double_quantize(absmax, state.state2.code)
    expect_equal("number of codes", getattr(indices, "shape", None), state.absmax.shape)
    agree = (indices.long() == state.absmax.long()).float().mean().item()
    # bitsandbytes' C kernel rounds a few values near the midpoint of two codes the other way
    expect(agree >= 0.99, f"only {agree:.1%} of the codes equal bitsandbytes' (expected at least 99 %): "
           "each centred constant divided by its block's absmax2 takes the index of the nearest code8 entry")


def check_dequantize(learner):
    """dequantize_constants gives bitsandbytes' dequantized constants"""
    _, state = _state()
    theirs = dequantize_blockwise(state.absmax, state.state2) + state.offset
    ours = learner.dequantize_constants(state.absmax, state.state2.absmax, state.offset.item(), state.state2.code)
    first_difference("dequantized constants", ours, theirs, 1e-6, {
        "you forgot to add the offset back": theirs - state.offset,
    })


def check_bits_per_param(learner):
    """bits_per_param: 0.127 for blocks of 64 and 256, as a real QuantState stores them"""
    for blocksize in (64, 128):
        _, state = _state(blocksize)
        measured = (state.absmax.numel() * 8 + state.state2.absmax.numel() * 32) / (state.absmax.numel() * blocksize)
        expect_equal(f"bits_per_param({blocksize}, 256)", learner.bits_per_param(blocksize, 256), measured, {
            "that is without double quantization (one fp32 constant per block): 32 / blocksize": 32 / blocksize,
            "the fp32 second-level constant is shared by 256 blocks: 32 / (blocksize * 256), not 32 / blocksize":
                8 / blocksize + 32 / blocksize,
            "you left out the fp32 absmax of each block of 256 constants": 8 / blocksize,
        }, tolerance=1e-9)
