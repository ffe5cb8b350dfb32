"""NormalFloat-4: sixteen levels placed at quantiles of the standard normal distribution.

Trained weights are roughly zero-mean normal. If each of the 2^4 levels stands for an equal
share of the normal's probability mass, every level is used about equally often, which
wastes fewer levels than an evenly spaced grid does.

The construction (Dettmers et al. 2023, as bitsandbytes implements it):
- the quantile at probability 1 is infinite, so the outermost level sits at probability
  OFFSET = 1 - (1/(2*15) + 1/(2*16)) / 2, half-way between the outer bin centres of a
  15-level and a 16-level grid;
- 8 positive levels: quantiles at 8 evenly spaced probabilities from OFFSET down towards 0.5;
- 7 negative levels: the same with 7 probabilities, mirrored;
- plus an exact 0 (padding and ReLU zeros must survive), then everything divided by the
  largest level so the grid spans [-1, 1].
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from statistics import NormalDist

OFFSET = 1 - (1 / (2 * 15) + 1 / (2 * 16)) / 2
POSITIVE_LEVELS = 8
NEGATIVE_LEVELS = 7


def _probabilities(count: int) -> list[float]:
    """`count` probabilities evenly spaced from OFFSET towards 0.5 (0.5 itself excluded)."""
    step = (OFFSET - 0.5) / count
    return [OFFSET - i * step for i in range(count)]


@dataclass(frozen=True)
class Level:
    """One NF4 level: the cumulative probability it stands at, its N(0,1) quantile, and the
    quantile divided by the largest one."""

    probability: float
    quantile: float
    level: float


def nf4_construction() -> list[Level]:
    """The 16 NF4 levels, ascending, with the probabilities and quantiles they come from."""
    normal = NormalDist()
    probabilities = sorted(
        [1 - p for p in _probabilities(NEGATIVE_LEVELS)] + [0.5] + _probabilities(POSITIVE_LEVELS)
    )
    quantiles = [0.0 if p == 0.5 else normal.inv_cdf(p) for p in probabilities]
    top = max(quantiles)
    return [Level(p, z, z / top) for p, z in zip(probabilities, quantiles)]


def nf4_levels() -> list[float]:
    """The 16 NF4 levels, ascending, in [-1, 1], built from normal quantiles."""
    return [row.level for row in nf4_construction()]


def bitsandbytes_levels(quant_type: str = "nf4") -> list[float]:
    """The code book bitsandbytes really uses for a 4-bit type, ascending."""
    from bitsandbytes.functional import get_4bit_type

    return sorted(get_4bit_type(quant_type, device="cpu").tolist())


def normalized_weights(numel: int = 1 << 14) -> list[float]:
    """Normal weights divided by their block's absmax: what the NF4 levels must cover."""
    from tutor.engine.quantization import DEFAULT_BLOCKSIZE, weight_like_tensor

    blocks = weight_like_tensor("normal", numel).reshape(-1, DEFAULT_BLOCKSIZE)
    return (blocks / blocks.abs().amax(dim=1, keepdim=True)).flatten().tolist()


def level_usage(values: list[float], levels: list[float]) -> list[int]:
    """How many values round to each level (ascending `levels`; nearest level wins)."""
    midpoints = [(low + high) / 2 for low, high in zip(levels, levels[1:])]
    counts = [0] * len(levels)
    for value in values:
        counts[bisect_left(midpoints, value)] += 1
    return counts
