"""Exercise 5, a reference solution: double quantization."""

import torch


def double_quantize(absmax: torch.Tensor, code8: torch.Tensor, blocksize2: int = 256) -> tuple[torch.Tensor, torch.Tensor, float]:
    """fp32 block constants -> (uint8 index of each, one per constant; fp32 absmax of each block of 256; the offset)."""
    offset = absmax.mean()
    blocks = (absmax - offset).reshape(-1, blocksize2)
    absmax2 = blocks.abs().amax(dim=1)
    indices = ((blocks / absmax2[:, None])[..., None] - code8).abs().argmin(dim=-1)
    return indices.flatten().to(torch.uint8), absmax2, offset.item()


def dequantize_constants(indices: torch.Tensor, absmax2: torch.Tensor, offset: float, code8: torch.Tensor,
                         blocksize2: int = 256) -> torch.Tensor:
    """The fp32 block constants that `double_quantize`'s output stands for, 1-D."""
    blocks = code8[indices.long()].reshape(-1, blocksize2)
    return (blocks * absmax2[:, None]).flatten() + offset


def bits_per_param(blocksize: int = 64, blocksize2: int = 256) -> float:
    """Extra bits each weight pays for the double-quantized constants (not counting the offset or code8)."""
    return 8 / blocksize + 32 / (blocksize * blocksize2)
