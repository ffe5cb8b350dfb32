"""Exercise 4: NF4 quantize and dequantize in blocks of 64 (lesson 3).

This is what bitsandbytes does to each linear layer's weight when a model loads in 4 bits:
cut the flattened weight into blocks of 64 values, divide each block by its absmax, replace
each value by the index (0-15) of the nearest NF4 level, and store two indices per byte.

`code` is bitsandbytes' NF4 table: 16 float32 levels, ascending (the checks pass
`bitsandbytes.functional.get_4bit_type("nf4")`). x.numel() is a multiple of 2 * blocksize.
Write the three functions, then run `qlora-tutor exercise check nf4-quantize`: your bytes
and values are compared with `quantize_4bit` and `dequantize_4bit` on the same tensor.
"""

import torch


def quantize_nf4(x: torch.Tensor, code: torch.Tensor, blocksize: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """x -> (uint8 index of the nearest level for every value, 1-D of x.numel(); absmax of each block)."""
    raise NotImplementedError("TODO")


def pack(indices: torch.Tensor) -> torch.Tensor:
    """1-D uint8 indices (0-15) -> 1-D uint8 bytes, two indices each, the first in the high 4 bits."""
    raise NotImplementedError("TODO")


def dequantize_nf4(indices: torch.Tensor, absmax: torch.Tensor, code: torch.Tensor, blocksize: int = 64) -> torch.Tensor:
    """Indices and block absmax -> the float32 values they stand for, 1-D."""
    raise NotImplementedError("TODO")
