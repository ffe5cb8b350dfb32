"""Exercise 4, a reference solution: NF4 quantize and dequantize in blocks of 64."""

import torch


def quantize_nf4(x: torch.Tensor, code: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """x -> (uint8 index of the nearest level for every value, 1-D of x.numel(); absmax of each block)."""
    blocks = x.flatten().reshape(-1, blocksize)
    absmax = blocks.abs().amax(dim=1)
    normalized = blocks / absmax[:, None]
    indices = (normalized[..., None] - code).abs().argmin(dim=-1)
    return indices.flatten().to(torch.uint8), absmax


def pack(indices: torch.Tensor) -> torch.Tensor:
    """1-D uint8 indices (0-15) -> 1-D uint8 bytes, two indices each, the first in the high 4 bits."""
    return (indices[0::2] << 4) | indices[1::2]


def dequantize_nf4(indices: torch.Tensor, absmax: torch.Tensor, code: torch.Tensor, blocksize: int = 64) -> torch.Tensor:
    """Indices and block absmax -> the float32 values they stand for, 1-D."""
    levels = code[indices.long()].reshape(-1, blocksize)
    return (levels * absmax[:, None]).flatten()
