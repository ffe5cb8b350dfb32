"""LoRA parameter counts, the SVD error curve, and B = 0 at initialisation."""

from __future__ import annotations

from tutor.engine import lora_math


def test_full_versus_low_rank_counts():
    assert lora_math.full_params(4096) == 4096**2
    assert lora_math.lora_params(4096, 16) == 2 * 4096 * 16 == 131_072
    assert lora_math.lora_params(4096, 32, d_out=1024) == 32 * (4096 + 1024)
    assert lora_math.kept_share(64, 32) == 1.0  # at r = d/2 the factors are as large as W


def test_svd_error_drops_until_the_true_rank_then_flattens():
    curve = lora_math.svd_error_curve(size=64, true_rank=8, noise=0.05)
    assert curve.ranks == list(range(1, 33))
    assert curve.errors == sorted(curve.errors, reverse=True)
    assert curve.error_at(7) > 0.15 > 0.06 > curve.error_at(8)
    assert curve.error_at(8) - curve.error_at(16) < 0.02


def test_zero_b_gives_the_base_models_outputs():
    check = lora_math.zero_init_check(rank=4, alpha=8)
    assert check.adapters == 8  # q, k, v, o in 2 layers
    assert check.lora_b_max == 0.0 and check.lora_a_max > 0.0
    assert check.outputs_equal and check.max_difference == 0.0
    assert check.difference_after_b_nudge > 1e-3
    assert check.scaling == 2.0
