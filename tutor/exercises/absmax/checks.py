"""Checks for exercise 1 (absmax): the QLoRA notebook's 0.622 example and bitsandbytes' row-wise int8."""

import torch
from bitsandbytes.functional import int8_vectorwise_quant

from tutor.engine.checking import expect_equal, first_difference


def check_max_level(learner):
    """max_level: 7 at 4 bits, 127 at 8 bits"""
    for bits in (4, 8):
        expect_equal(f"max_level({bits})", learner.max_level(bits), 2 ** (bits - 1) - 1, {
            "you used 2^bits - 1, but one bit holds the sign: 2^(bits-1) - 1": 2 ** bits - 1,
            "2^(bits-1) is one level too many: the grid is symmetric, -(2^(bits-1) - 1) to 2^(bits-1) - 1": 2 ** (bits - 1),
        })


def check_quantize_notebook_example(learner):
    """quantize: 0.622 -> 4 at 4 bits, 79 at 8 bits, -0.622 -> -79"""
    for value, bits, expected in ((0.622, 4, 4), (0.622, 8, 79), (-0.622, 8, -79)):
        expect_equal(f"quantize({value}, {bits})", learner.quantize(value, bits), expected, {
            "you truncated (int()); round to the nearest level": int(value * (2 ** (bits - 1) - 1)),
            "you scaled by 2^bits - 1; the largest level is 2^(bits-1) - 1": round(value * (2 ** bits - 1)),
        })


def check_dequantize_notebook_example(learner):
    """dequantize: 4 -> 0.5714... at 4 bits, 79 -> 0.62204... at 8 bits"""
    for level, bits in ((4, 4), (79, 8)):
        expect_equal(f"dequantize({level}, {bits})", learner.dequantize(level, bits),
                     level / (2 ** (bits - 1) - 1), {
                         "you divided by 2^(bits-1); divide by the largest level, 2^(bits-1) - 1": level / 2 ** (bits - 1),
                         "you divided by 2^bits - 1; divide by the largest level, 2^(bits-1) - 1": level / (2 ** bits - 1),
                     }, tolerance=1e-9)


def _rows():
    # fp16-exact values, so bitsandbytes (which takes fp16) sees the same numbers as the learner
    return (torch.randn(6, 32, generator=torch.Generator().manual_seed(1)) * 3).half().float()


def check_rows_match_bitsandbytes(learner):
    """quantize_rows(x, 8) gives bitsandbytes' int8_vectorwise_quant levels and row absmax"""
    x = _rows()
    levels, absmax = learner.quantize_rows(x, 8)
    their_levels, their_absmax, _ = int8_vectorwise_quant(x.half())
    expect_equal("row absmax", absmax, their_absmax.float(), {
        "you took one absmax for the whole tensor; take one per row (dim=1)": x.abs().max(),
        "you took the absmax of each column (dim=0); take one per row (dim=1)": x.abs().amax(dim=0),
        "you took the max, not the max of the absolute values": x.amax(dim=1),
    }, tolerance=1e-6)
    expect_equal("levels dtype", getattr(levels, "dtype", None), torch.int8)
    first_difference("levels", levels, their_levels)


def check_rows_round_trip(learner):
    """dequantize_rows undoes quantize_rows to within half a step per row"""
    x = _rows()
    levels, absmax = learner.quantize_rows(x, 8)
    expected = levels.float() / 127 * absmax[:, None]
    first_difference("dequantize_rows(...)", learner.dequantize_rows(levels, absmax, 8), expected, 1e-6)
