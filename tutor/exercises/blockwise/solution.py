"""Exercise 2, a reference solution: blockwise absmax."""

import torch


def quantize_blockwise(x: torch.Tensor, bits: int, blocksize: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x (any shape) -> (int8 levels, 1-D of x.numel(); absmax of each block, 1-D)."""
    blocks = x.flatten().reshape(-1, blocksize)
    absmax = blocks.abs().amax(dim=1)
    levels = torch.round(blocks / absmax[:, None] * (2 ** (bits - 1) - 1))
    return levels.flatten().to(torch.int8), absmax


def dequantize_blockwise(levels: torch.Tensor, absmax: torch.Tensor, bits: int, blocksize: int) -> torch.Tensor:
    """Levels and block absmax -> the float32 values they stand for, 1-D."""
    blocks = levels.float().reshape(-1, blocksize)
    return (blocks * absmax[:, None] / (2 ** (bits - 1) - 1)).flatten()


def mean_error(x: torch.Tensor, bits: int, blocksize: int) -> float:
    """Mean absolute error of the round trip of x through `bits`-bit blockwise absmax."""
    levels, absmax = quantize_blockwise(x, bits, blocksize)
    return (x.flatten() - dequantize_blockwise(levels, absmax, bits, blocksize)).abs().mean().item()
