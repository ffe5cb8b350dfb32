"""Exercise 3: the 16 NF4 levels (lesson 3, "NF4 and double quantization").

NormalFloat-4 places its 16 levels at quantiles of the standard normal distribution, so
each level stands for an equal share of normally distributed weights (Dettmers et al.
2023, section 3). The halves are asymmetric so that 0 is a level of its own: 7 negative
levels, an exact 0, 8 positive levels, all divided by the largest so they span [-1, 1].

Write nf4_levels(), then run `qlora-tutor exercise check nf4-levels`: your levels are
compared with the table bitsandbytes quantizes with (`get_4bit_type("nf4")`).
`statistics.NormalDist().inv_cdf` gives normal quantiles.
"""

from statistics import NormalDist


def nf4_levels() -> list[float]:
    """The 16 NF4 levels as floats, ascending, from -1.0 to 1.0."""
    raise NotImplementedError("TODO")
