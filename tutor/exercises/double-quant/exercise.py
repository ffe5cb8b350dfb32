"""Exercise 5: double quantization (lesson 3, "NF4 and double quantization").

NF4 stores one fp32 absmax per block of 64 weights: 32 / 64 = 0.5 extra bits per weight.
QLoRA quantizes those constants again (Dettmers et al. 2023, section 3): subtract their
mean, then quantize them blockwise to 8 bits in blocks of 256, each block with its own fp32
absmax. bitsandbytes does this when `compress_statistics=True` (bnb_4bit_use_double_quant).

`code8` is the 256-entry 8-bit code bitsandbytes uses for the constants, ascending, in
[-1, 1] (the checks pass the one in a real QuantState, `state.state2.code`); the number of
constants is a multiple of blocksize2. Write the three functions, then run
`qlora-tutor exercise check double-quant`.
"""

import torch


def double_quantize(absmax: torch.Tensor, code8: torch.Tensor, blocksize2: int = 256) -> tuple[torch.Tensor, torch.Tensor, float]:
    """fp32 block constants -> (uint8 index of each, one per constant; fp32 absmax of each block of 256; the offset)."""
    raise NotImplementedError("TODO")


def dequantize_constants(indices: torch.Tensor, absmax2: torch.Tensor, offset: float, code8: torch.Tensor,
                         blocksize2: int = 256) -> torch.Tensor:
    """The fp32 block constants that `double_quantize`'s output stands for, 1-D."""
    raise NotImplementedError("TODO")


def bits_per_param(blocksize: int = 64, blocksize2: int = 256) -> float:
    """Extra bits each weight pays for the double-quantized constants (not counting the offset or code8)."""
    raise NotImplementedError("TODO")
