"""Checks for exercise 2 (blockwise): block absmax as bitsandbytes stores it, and the error."""

import torch
from bitsandbytes.functional import quantize_4bit

from tutor.engine.checking import block_mistakes, expect, expect_equal, first_difference

BLOCKSIZE = 64


def _weights():
    return torch.randn(16, 256, generator=torch.Generator().manual_seed(2)) * 0.02


def _reference(x, bits, blocksize):
    blocks = x.flatten().reshape(-1, blocksize)
    absmax = blocks.abs().amax(dim=1)
    levels = torch.round(blocks / absmax[:, None] * (2 ** (bits - 1) - 1))
    return levels, absmax


def check_absmax_matches_bitsandbytes(learner):
    """absmax per block of 64 equals bitsandbytes' QuantState.absmax"""
    x = _weights()
    _, absmax = learner.quantize_blockwise(x, 4, BLOCKSIZE)
    _, state = quantize_4bit(x, blocksize=BLOCKSIZE, quant_type="nf4")
    expect_equal("absmax", absmax, state.absmax, block_mistakes(x, BLOCKSIZE), tolerance=1e-9)


def check_levels(learner):
    """levels at 4 bits: round(value / block absmax * 7), 1-D int8"""
    x = _weights()
    levels, _ = learner.quantize_blockwise(x, 4, BLOCKSIZE)
    expected, _ = _reference(x, 4, BLOCKSIZE)
    expect_equal("levels dtype", getattr(levels, "dtype", None), torch.int8)
    first_difference("levels", levels, expected.flatten().to(torch.int8))


def check_round_trip(learner):
    """dequantize_blockwise brings each value back within half a step of its block"""
    x = _weights()
    levels, absmax = _reference(x, 8, 32)
    expected = (levels * absmax[:, None] / 127).flatten()
    first_difference("dequantize_blockwise(...)", learner.dequantize_blockwise(
        levels.flatten().to(torch.int8), absmax, 8, 32), expected, 1e-7)


def check_error_against_block_size(learner):
    """mean_error falls as blocks shrink (4096 -> 256 -> 64 -> 16) on weights with outliers"""
    x = _weights().flatten()
    x[::997] = 0.5  # a few outliers, as real weight matrices have
    errors = {}
    for blocksize in (4096, 256, 64, 16):
        levels, absmax = _reference(x, 4, blocksize)
        expected = (x - (levels * absmax[:, None] / 7).flatten()).abs().mean().item()
        errors[blocksize] = learner.mean_error(x, 4, blocksize)
        expect_equal(f"mean_error(x, 4, {blocksize})", errors[blocksize], expected, tolerance=1e-7)
    expect(errors[16] < errors[64] < errors[256] < errors[4096], f"errors should fall with the block size: {errors}")
