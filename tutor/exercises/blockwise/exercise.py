"""Exercise 2: blockwise absmax (lessons 2 and 3).

One absmax for a whole tensor lets a single outlier squash every other value onto a few
levels. bitsandbytes cuts the flattened tensor into blocks of `blocksize` consecutive
values (64 for NF4 weights) and stores one absmax per block.

Fill in the three functions; x.numel() is a multiple of blocksize. Then run
`qlora-tutor exercise check blockwise`. Your absmax is checked against the one in a
bitsandbytes QuantState.
"""

import torch


def quantize_blockwise(x: torch.Tensor, bits: int, blocksize: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x (any shape) -> (int8 levels, 1-D of x.numel(); absmax of each block, 1-D)."""
    raise NotImplementedError("TODO")


def dequantize_blockwise(levels: torch.Tensor, absmax: torch.Tensor, bits: int, blocksize: int) -> torch.Tensor:
    """Levels and block absmax -> the float32 values they stand for, 1-D."""
    raise NotImplementedError("TODO")


def mean_error(x: torch.Tensor, bits: int, blocksize: int) -> float:
    """Mean absolute error of the round trip of x through `bits`-bit blockwise absmax."""
    raise NotImplementedError("TODO")
