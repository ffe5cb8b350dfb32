import pytest

from bench.throughput import measured_window
from tutor.engine.flops import MatmulShape, mfu, training_flops_per_token

LLAMA2_7B = MatmulShape(matmul_params=6_607_077_376, layers=32, hidden=4096)


def test_flops_per_token_is_four_n_plus_attention():
    assert training_flops_per_token(LLAMA2_7B, 512) == 4 * 6_607_077_376 + 4 * 32 * 512 * 4096


def test_mfu_of_the_notebook_stack_loop_is_about_sixteen_percent():
    # 4,706 tokens/s x 26.70 GFLOP/token = 125.6 TFLOP/s, of 798 peak.
    assert mfu(4706, LLAMA2_7B, 512) == pytest.approx(0.1574, abs=5e-4)


def test_window_skips_warmup_steps():
    window = measured_window([100, 100, 200, 200], [5.0, 1.0, 0.5, 0.5], warmup=2)
    assert (window.tokens, window.steps) == (400, 2)
    assert window.tokens_per_s == pytest.approx(400.0)
    assert window.mean_step_s == pytest.approx(0.5)


def test_window_needs_steps_after_warmup():
    with pytest.raises(ValueError, match="nothing left"):
        measured_window([1, 2], [0.1, 0.1], warmup=2)
