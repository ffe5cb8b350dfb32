"""The NF4 levels built from normal quantiles match the code book bitsandbytes uses."""

from __future__ import annotations

import pytest

from tutor.engine import nf4


def test_engine_levels_equal_bitsandbytes_levels():
    ours, theirs = nf4.nf4_levels(), nf4.bitsandbytes_levels("nf4")
    assert len(ours) == len(theirs) == 16
    assert ours == pytest.approx(theirs, abs=1e-4)


def test_levels_span_minus_one_to_one_with_an_exact_zero():
    levels = nf4.nf4_levels()
    assert levels[0] == -1.0 and levels[-1] == 1.0 and 0.0 in levels
    assert sum(level > 0 for level in levels) == 8 and sum(level < 0 for level in levels) == 7


def test_offset_is_the_papers_value():
    assert nf4.OFFSET == pytest.approx(0.9677083, abs=1e-7)


def test_levels_share_normal_weights_more_evenly_than_an_even_grid():
    weights = nf4.normalized_weights()
    nf4_usage = nf4.level_usage(weights, nf4.nf4_levels())
    even_usage = nf4.level_usage(weights, [i / 7 for i in range(-7, 8)])
    assert sum(nf4_usage) == sum(even_usage) == len(weights)
    assert max(nf4_usage) < max(even_usage)
