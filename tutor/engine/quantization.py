"""Absmax quantization by hand, and 4-bit blockwise quantization with bitsandbytes.

The scalar and vector functions are pure Python so the lesson reacts instantly; anything
that touches torch or bitsandbytes imports it inside the function, so the app starts fast.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

BIT_RANGE = range(2, 9)
FOUR_BIT_FORMATS = ("int4", "fp4", "nf4")
BLOCK_SIZES = (32, 64, 128, 256)
DEFAULT_BLOCKSIZE = 64  # QLoRA's block for the weights
SECOND_BLOCKSIZE = 256  # QLoRA's block for the double-quantized constants


def max_level(bits: int) -> int:
    """Largest integer of a symmetric signed grid: 2^(bits-1) - 1 (7 for 4-bit, 127 for 8-bit)."""
    if bits not in BIT_RANGE:
        raise ValueError(f"bits must be between {BIT_RANGE.start} and {BIT_RANGE.stop - 1}")
    return 2 ** (bits - 1) - 1


def quantize(value: float, bits: int) -> int:
    """A value already scaled into [-1, 1] becomes an integer in [-max_level, max_level]."""
    if not -1.0 <= value <= 1.0:
        raise ValueError("the value must lie in [-1, 1]; divide by the absmax first")
    return round(value * max_level(bits))


def unquantize(level: int, bits: int) -> float:
    return level / max_level(bits)


@dataclass(frozen=True)
class ScalarRoundTrip:
    value: float
    bits: int
    scaled: float  # value * max_level, before rounding
    level: int
    restored: float

    @property
    def error(self) -> float:
        return abs(self.value - self.restored)


def round_trip(value: float, bits: int) -> ScalarRoundTrip:
    level = quantize(value, bits)
    return ScalarRoundTrip(value, bits, value * max_level(bits), level, unquantize(level, bits))


@dataclass(frozen=True)
class VectorRoundTrip:
    values: list[float]
    bits: int
    scale: float  # the absmax: max |x|
    levels: list[int]
    restored: list[float]

    @property
    def errors(self) -> list[float]:
        return [abs(a - b) for a, b in zip(self.values, self.restored)]

    @property
    def max_error(self) -> float:
        return max(self.errors)

    @property
    def mean_error(self) -> float:
        return sum(self.errors) / len(self.errors)


def absmax_round_trip(values: list[float], bits: int) -> VectorRoundTrip:
    """Scale a whole vector by its largest magnitude, quantize, and scale back."""
    scale = max(abs(v) for v in values) or 1.0
    top = max_level(bits)
    levels = [round(v / scale * top) for v in values]
    return VectorRoundTrip(list(values), bits, scale, levels, [q / top * scale for q in levels])


def linspace(start: float, stop: float, count: int) -> list[float]:
    step = (stop - start) / (count - 1)
    return [start + i * step for i in range(count)]


def cosine_curve(count: int = 50) -> tuple[list[float], list[float]]:
    """The lesson's test signal: cos(x) at `count` evenly spaced points in [-1, 1]."""
    xs = linspace(-1.0, 1.0, count)
    return xs, [math.cos(x) for x in xs]


@dataclass(frozen=True)
class OutlierDemo:
    """The same small values quantized alone, and again with one outlier in the vector."""

    bits: int
    outlier: float
    without: VectorRoundTrip
    with_outlier: VectorRoundTrip
    blocked: list[VectorRoundTrip]  # the vector with the outlier, split into blocks

    @property
    def levels_available(self) -> int:
        return 2 * max_level(self.bits) + 1

    def levels_used_by_small_values(self) -> tuple[int, int]:
        """Distinct integer levels the small values occupy: alone, then beside the outlier."""
        count = len(self.without.values)
        return len(set(self.without.levels)), len(set(self.with_outlier.levels[:count]))

    def small_value_errors(self) -> tuple[float, float, float]:
        """Mean error of the small values: alone, beside the outlier, and with blocks."""
        count = len(self.without.values)
        blocked_errors = [e for block in self.blocked for e in block.errors][:count]
        return (
            self.without.mean_error,
            sum(self.with_outlier.errors[:count]) / count,
            sum(blocked_errors) / count,
        )


def outlier_demo(outlier: float = 20.0, bits: int = 8, count: int = 63, block: int = 16) -> OutlierDemo:
    """`count` weight-like values (normal, std 0.5) with one outlier appended at the end."""
    rng = random.Random(0)
    small = [rng.gauss(0.0, 0.5) for _ in range(count)]
    vector = small + [outlier]
    blocks = [vector[i : i + block] for i in range(0, len(vector), block)]
    return OutlierDemo(
        bits=bits,
        outlier=outlier,
        without=absmax_round_trip(small, bits),
        with_outlier=absmax_round_trip(vector, bits),
        blocked=[absmax_round_trip(b, bits) for b in blocks],
    )


def constant_bits_per_param(
    blocksize: int = DEFAULT_BLOCKSIZE, double_quant: bool = False, second_blocksize: int = SECOND_BLOCKSIZE
) -> float:
    """Storage the absmax constants add per weight.

    One fp32 constant per block: 32 / blocksize. With double quantization each constant is
    an 8-bit float, and every `second_blocksize` of them share one fp32 constant of their own.
    """
    if not double_quant:
        return 32 / blocksize
    return 8 / blocksize + 32 / (blocksize * second_blocksize)


@dataclass(frozen=True)
class MeasuredConstants:
    """Bits per parameter the block constants really take in a bitsandbytes QuantState."""

    numel: int
    blocksize: int
    plain_bits: float
    double_quant_bits: float


def _constant_bytes(state) -> int:
    size = state.absmax.numel() * state.absmax.element_size()
    if state.nested:
        nested = state.state2.absmax
        size += nested.numel() * nested.element_size() + state.offset.numel() * state.offset.element_size()
    return size


def measure_constant_bits(numel: int = 1 << 20, blocksize: int = DEFAULT_BLOCKSIZE) -> MeasuredConstants:
    """Quantize a real tensor to NF4 with and without compressed statistics; count the bits.

    The code books (16 and 256 values shared by every tensor) are not counted.
    """
    import torch
    from bitsandbytes.functional import quantize_4bit

    weights = torch.randn(numel, generator=torch.Generator().manual_seed(0))
    bits = {}
    for nested in (False, True):
        _, state = quantize_4bit(weights, blocksize=blocksize, compress_statistics=nested, quant_type="nf4")
        bits[nested] = _constant_bytes(state) * 8 / numel
    return MeasuredConstants(numel, blocksize, bits[False], bits[True])


def weight_like_tensor(distribution: str = "normal", numel: int = 1 << 14):
    """A reproducible stand-in for a layer's weights: normal (like trained weights) or uniform."""
    import torch

    generator = torch.Generator().manual_seed(0)
    if distribution == "normal":
        return torch.randn(numel, generator=generator) * 0.02
    if distribution == "uniform":
        return (torch.rand(numel, generator=generator) * 2 - 1) * 0.02
    raise ValueError(f"distribution must be 'normal' or 'uniform', not {distribution!r}")


def _int4_blockwise(weights, blocksize: int):
    """Uniform symmetric int4 with one absmax per block (bitsandbytes has no int4 type)."""
    import torch

    blocks = weights.reshape(-1, blocksize)
    scale = blocks.abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(blocks.dtype).tiny)
    top = max_level(4)
    return (torch.round(blocks / scale * top) / top * scale).reshape(weights.shape)


def blockwise_round_trip(weights, fmt: str, blocksize: int):
    """Quantize to a 4-bit format in blocks and back; FP4 and NF4 run through bitsandbytes."""
    if fmt == "int4":
        return _int4_blockwise(weights, blocksize)
    if fmt not in FOUR_BIT_FORMATS:
        raise ValueError(f"format must be one of {FOUR_BIT_FORMATS}")
    from bitsandbytes.functional import dequantize_4bit, quantize_4bit

    packed, state = quantize_4bit(weights, blocksize=blocksize, quant_type=fmt)
    return dequantize_4bit(packed, state).reshape(weights.shape)


@dataclass(frozen=True)
class FormatComparison:
    """Mean absolute reconstruction error, relative to the weights' mean magnitude."""

    distribution: str
    block_sizes: tuple[int, ...]
    errors: dict[str, list[float]]  # format -> one relative error per block size

    def best_format(self, blocksize: int) -> str:
        column = self.block_sizes.index(blocksize)
        return min(self.errors, key=lambda fmt: self.errors[fmt][column])


@lru_cache(maxsize=None)
def compare_4bit_formats(distribution: str = "normal", block_sizes: tuple[int, ...] = BLOCK_SIZES) -> FormatComparison:
    """Cached: the tensor is fixed, so switching back and forth in the lesson is instant."""
    weights = weight_like_tensor(distribution)
    magnitude = weights.abs().mean()
    errors = {
        fmt: [
            float((blockwise_round_trip(weights, fmt, size) - weights).abs().mean() / magnitude)
            for size in block_sizes
        ]
        for fmt in FOUR_BIT_FORMATS
    }
    return FormatComparison(distribution, tuple(block_sizes), errors)
