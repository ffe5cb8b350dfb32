"""The memory bill reproduces the seed's figures."""

from __future__ import annotations

import pytest

from tutor.engine import memory

GB = memory.GB


def test_65b_full_fine_tuning():
    bill = memory.estimate(65e9, "full")
    assert bill.weights == 130 * GB
    assert bill.weights + bill.gradients + bill.optimizer == 780 * GB
    assert bill.total == pytest.approx(780 * GB, rel=0.01)
    assert memory.smallest_gpu(bill.total) is None


def test_65b_qlora_fits_48_gb_and_16_bit_lora_does_not():
    assert memory.smallest_gpu(memory.estimate(65e9, "qlora").total) == 48
    assert memory.estimate(65e9, "lora").total > 80 * GB


def test_7b_qlora_fits_16_gb():
    bill = memory.estimate(7e9, "qlora", memory.PRESETS["7B"].shape)
    assert bill.total < 16 * GB
    assert memory.smallest_gpu(bill.total) == 16


def test_qlora_weights_use_4_127_bits_for_linear_layers():
    shape = memory.PRESETS["7B"].shape
    linear = 7e9 - shape.embedding_params
    expected = linear * (4 + 8 / 64 + 32 / (64 * 256)) / 8 + shape.embedding_params * 2
    assert memory.qlora_weight_bytes(7e9, shape) == pytest.approx(expected)


def test_adapter_count_matches_llama_3_1_8b_dump():
    # seed section 4: r = 32 on q/k/v/o of Llama-3.1-8B = 27,262,976 parameters
    assert memory.lora_params(memory.PRESETS["8B"].shape, 32) == 27_262_976


def test_activations_grow_with_batch_and_without_checkpointing():
    shape = memory.PRESETS["7B"].shape
    base = memory.activation_bytes(shape, batch=1)
    assert memory.activation_bytes(shape, batch=4) == pytest.approx(4 * base)
    assert memory.activation_bytes(shape, gradient_checkpointing=False) > 5 * base


def test_custom_size_borrows_the_nearest_shape():
    assert memory.nearest_preset(6.5e9).label == "7B"
    with pytest.raises(ValueError):
        memory.estimate(7e9, "prompt-tuning")
