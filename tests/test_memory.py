"""The memory bill reproduces the figures of the course's sources (the QLoRA paper, the LoRA dump)."""

from __future__ import annotations

import pytest

from tutor.engine import memory
from tutor.engine.memory import ModelShape, estimate

GB = memory.GB


def test_65b_full_fine_tuning_under_both_conventions():
    paper = memory.estimate(65e9, "full")
    assert paper.weights == 130 * GB and paper.master_weights == 0
    assert paper.weights + paper.gradients + paper.optimizer == 780 * GB  # 12 bytes/param
    master = memory.estimate(65e9, "full", convention="master")
    assert master.master_weights == 260 * GB
    assert master.total - master.activations == 1040 * GB  # 16 bytes/param
    assert memory.smallest_gpu(paper.total) is None
    with pytest.raises(ValueError):
        memory.estimate(65e9, "full", convention="fp64")


def test_65b_qlora_fits_48_gb_and_16_bit_lora_does_not():
    assert memory.smallest_gpu(memory.estimate(65e9, "qlora").total) == 48
    assert memory.estimate(65e9, "lora").total > 80 * GB


def test_65b_with_the_papers_recipe_fits_48_gb_only_by_paging():
    # r 64, all linear layers, paged AdamW (qlora.py's default is the 32-bit one)
    bill = memory.estimate(65e9, "qlora", rank=64, targets="all-linear")
    assert bill.total == pytest.approx(47.98 * GB, abs=0.01 * GB)
    assert memory.verdict(bill, paged=False) == memory.Verdict(80)
    assert memory.verdict(bill, paged=True) == memory.Verdict(48, needs_paging=True)


def test_headroom_decides_the_7b_verdicts_on_16_gb():
    lora = memory.estimate(7e9, "lora", memory.PRESETS["7B"].shape)
    assert 14 * GB < lora.total < 16 * GB  # the bare bill would squeeze in...
    assert not memory.fits(lora.total, 16)  # ...but not with the allocator's reserve and the context
    assert memory.smallest_gpu(lora.total) == 24
    qlora = memory.estimate(7e9, "qlora", memory.PRESETS["7B"].shape)
    assert memory.required_bytes(qlora.total) == pytest.approx(qlora.total * 1.1 + 0.5 * GB)
    assert memory.required_bytes(10 * GB, reserve=0.07, context_bytes=0) == pytest.approx(10.7 * GB)
    assert memory.smallest_gpu(qlora.total) == 16


def test_8_bit_optimizer_state_is_a_quarter_of_fp32():
    fp32 = memory.estimate(7e9, "qlora", optimizer_bytes=memory.OPTIMIZERS["adamw"].bytes_per_param)
    int8 = memory.estimate(7e9, "qlora", optimizer_bytes=memory.OPTIMIZERS["paged_adamw_8bit"].bytes_per_param)
    assert int8.optimizer * 4 == fp32.optimizer


def test_qlora_weights_use_4_127_bits_for_linear_layers():
    shape = memory.PRESETS["7B"].shape
    linear = 7e9 - shape.embedding_params
    expected = linear * (4 + 8 / 64 + 32 / (64 * 256)) / 8 + shape.embedding_params * 2
    assert memory.qlora_weight_bytes(7e9, shape) == pytest.approx(expected)


def test_adapter_count_matches_llama_3_1_8b_dump():
    # the fact sheet (seed-facts.md), section 4: r = 32 on q/k/v/o of Llama-3.1-8B = 27,262,976 parameters
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


# Peaks measured on the H100 (device runs of 2026-11-23, bench/results/h100-2026-11-23.json and
# docs/benchmarks.md): QLoRA r=16 on q/k/v/o (query_key_value for Bloom), NF4 + double quant,
# gradient checkpointing, random weights. (model, params, shape, batch, seq_len, peak bytes)
MEASURED_PEAKS = [
    ("llama-2-7b bench", 6.738e9, ModelShape(hidden=4096, layers=32, intermediate=11008, vocab=32000), 4, 512,
     int(4.772 * 2**30)),
    ("llama-2-7b lab run", 6.738e9, ModelShape(hidden=4096, layers=32, intermediate=11008, vocab=32000), 8, 256,
     5_107_512_832),
    ("bloomz-560m bench", 0.559e9, ModelShape(hidden=1024, layers=24, intermediate=4096, vocab=250880,
                                               tied_embeddings=True, gated_mlp=False), 4, 512, int(1.254 * 2**30)),
    ("bloomz-560m lab run", 0.559e9, ModelShape(hidden=1024, layers=24, intermediate=4096, vocab=250880,
                                                 tied_embeddings=True, gated_mlp=False), 8, 256, 1_294_401_024),
]


@pytest.mark.parametrize("name, params, shape, batch, seq_len, peak", MEASURED_PEAKS, ids=[m[0] for m in MEASURED_PEAKS])
def test_qlora_estimate_is_within_25_percent_of_measured_gpu_peaks(name, params, shape, batch, seq_len, peak):
    bill = estimate(params, "qlora", shape, batch=batch, seq_len=seq_len)
    assert 0.75 <= bill.total / peak <= 1.25, f"{name}: estimate {bill.total / 2**30:.2f} GiB vs measured {peak / 2**30:.2f}"


def test_activations_grow_with_layers_and_hidden_size_too():
    small = memory.activation_bytes(memory.PRESETS["7B"].shape)
    large = memory.activation_bytes(memory.PRESETS["65B"].shape)
    assert (round(small / GB, 2), round(large / GB, 2)) == (0.27, 0.88)
