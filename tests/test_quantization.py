"""Absmax by hand, 4-bit formats via bitsandbytes, and the cost of block constants."""

from __future__ import annotations

import pytest

from tutor.engine import quantization as q


def test_notebook_example_0_622():
    four, eight = q.round_trip(0.622, 4), q.round_trip(0.622, 8)
    assert (four.level, eight.level) == (4, 79)
    assert four.restored == pytest.approx(0.571428, abs=1e-6)
    assert eight.restored == pytest.approx(0.622047, abs=1e-6)
    assert f"{four.restored:.5f}".startswith("0.5714") and f"{eight.restored:.5f}".startswith("0.6220")


@pytest.mark.parametrize("bits", [1, 9])
def test_bits_outside_2_to_8_are_refused(bits):
    with pytest.raises(ValueError, match="between 2 and 8"):
        q.round_trip(0.5, bits)


def test_values_must_be_scaled_first():
    with pytest.raises(ValueError, match="absmax"):
        q.quantize(1.5, 8)


def test_cosine_eight_bit_is_near_exact_and_four_bit_is_steppy():
    _, ys = q.cosine_curve()
    eight, four = q.absmax_round_trip(ys, 8), q.absmax_round_trip(ys, 4)
    assert len(ys) == 50
    assert eight.max_error <= 0.5 / 127 + 1e-12  # at most half a step
    assert four.max_error > 10 * eight.max_error
    assert len(set(four.levels)) < 5  # a staircase of a few steps


def test_one_outlier_starves_the_other_values():
    demo = q.outlier_demo(outlier=20, bits=4)
    alone, shared = demo.levels_used_by_small_values()
    assert alone > 10 and shared == 1
    alone_error, shared_error, blocked_error = demo.small_value_errors()
    assert alone_error < blocked_error < shared_error


def test_constant_bits_formulas():
    assert q.constant_bits_per_param() == 0.5
    assert q.constant_bits_per_param(double_quant=True) == pytest.approx(8 / 64 + 32 / (64 * 256))
    assert round(q.constant_bits_per_param(double_quant=True), 3) == 0.127


def test_constant_bits_measured_from_a_real_quant_state():
    measured = q.measure_constant_bits(numel=1 << 16)
    assert measured.plain_bits == pytest.approx(0.5)
    assert measured.double_quant_bits == pytest.approx(0.127, abs=1e-3)


def test_nf4_wins_on_normal_weights_and_int4_on_uniform_values():
    normal = q.compare_4bit_formats("normal")
    uniform = q.compare_4bit_formats("uniform")
    assert all(normal.best_format(size) == "nf4" for size in q.BLOCK_SIZES)
    assert all(uniform.best_format(size) == "int4" for size in q.BLOCK_SIZES)
    assert normal.errors["nf4"] == sorted(normal.errors["nf4"])  # larger blocks, larger error
