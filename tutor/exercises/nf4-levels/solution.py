"""Exercise 3, a reference solution: the 16 NF4 levels."""

from statistics import NormalDist

OFFSET = 1 - (1 / (2 * 15) + 1 / (2 * 16)) / 2


def _probabilities(count: int) -> list[float]:
    step = (OFFSET - 0.5) / count
    return [OFFSET - i * step for i in range(count)]


def nf4_levels() -> list[float]:
    """The 16 NF4 levels as floats, ascending, from -1.0 to 1.0."""
    normal = NormalDist()
    positive = [normal.inv_cdf(p) for p in _probabilities(8)]
    negative = [-normal.inv_cdf(p) for p in _probabilities(7)]
    top = max(positive)
    return sorted([q / top for q in positive + negative] + [0.0])
