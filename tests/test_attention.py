"""Packed training's attention: varlen flash per document, SDPA wherever varlen cannot run.

Flash kernels need a GPU, so these tests check the plumbing on CPU: the registered
implementation reaches the model, falls back to SDPA exactly, and (with a reference kernel in
the flash kernel's place) turns trl's padding-free batches into per-document attention.
"""

import pytest

torch = pytest.importorskip("torch")

from bench import attention  # noqa: E402
from bench.attention import VARLEN, kernel_options, register  # noqa: E402

CAUSAL_2_13 = frozenset({"query", "key", "value", "window_size", "scale", "enable_gqa"})
CAUSAL_2_10 = frozenset({"query", "key", "value", "is_causal", "return_aux"})


def tiny_llama(attn_implementation: str, kv_heads: int = 2):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=kv_heads, attn_implementation="sdpa")
    model = LlamaForCausalLM(config).eval()
    model.set_attn_implementation(attn_implementation)
    return model


def padding_free_batch(documents: list[list[int]]) -> dict:
    """What trl's collator hands the model for one packed row (bfd packing turns padding-free on)."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    row = {"input_ids": [t for doc in documents for t in doc], "seq_lengths": [len(doc) for doc in documents]}
    return DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)([row])


def reference_varlen(query, key, value, cu_q, cu_k, max_q, max_k, **options):
    """Per-document causal SDPA: what varlen flash computes, on CPU."""
    assert cu_q.tolist() == cu_k.tolist() and max_q == max(cu_q.diff().tolist())
    outs = []
    for start, end in zip(cu_q.tolist(), cu_q.tolist()[1:]):
        q, k, v = (t[start:end].transpose(0, 1) for t in (query, key, value))
        outs.append(torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(0, 1))
    return torch.cat(outs)


def logits(model, batch: dict):
    with torch.no_grad():
        return model(**{k: v for k, v in batch.items() if k != "labels"}, use_cache=False).logits


DOCS = [[3, 4, 5, 6], [7, 8, 9], [10, 11, 12, 13, 14]]


def test_without_the_kernel_it_is_exactly_sdpa_with_its_document_mask():
    register()
    packed = logits(tiny_llama(VARLEN), padding_free_batch(DOCS))
    alone = logits(tiny_llama("sdpa"), padding_free_batch([DOCS[1]]))
    torch.testing.assert_close(packed[0, 4:7], alone[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kv_heads", [4, 2])
def test_varlen_path_attends_within_each_document(monkeypatch, kv_heads):
    """Every document of a packed row gets the logits it would get alone (GQA included)."""
    calls = []

    def fake_call(query, key, *args):
        calls.append(tuple(query.shape))
        def kernel(q, k, v, *rest, **options):
            if k.shape[1] != q.shape[1]:
                k, v = (t.repeat_interleave(q.shape[1] // t.shape[1], dim=1) for t in (k, v))
            return reference_varlen(q, k, v, *rest)
        return kernel, {}

    monkeypatch.setattr(attention, "_varlen_call", fake_call)
    register()
    packed = logits(tiny_llama(VARLEN, kv_heads), padding_free_batch(DOCS))
    sdpa = tiny_llama("sdpa", kv_heads)
    start = 0
    for doc in DOCS:
        alone = logits(sdpa, padding_free_batch([doc]))
        torch.testing.assert_close(packed[0, start:start + len(doc)], alone[0], atol=1e-5, rtol=1e-5)
        start += len(doc)
    assert calls == [(1, 4, 12, 8)] * 2  # both layers, one flattened row of 12 tokens, 4 heads of 8


def test_causal_is_said_the_way_each_pytorch_release_says_it():
    assert kernel_options(CAUSAL_2_13, 0.125, 64, 8, 8, None) == {"window_size": (-1, 0), "scale": 0.125}
    assert kernel_options(CAUSAL_2_13, 0.125, 64, 8, 2, 4096) == {
        "window_size": (4095, 0), "scale": 0.125, "enable_gqa": True}
    assert kernel_options(CAUSAL_2_10, 0.125, 64, 8, 8, None) == {"is_causal": True}


def test_calls_an_old_release_cannot_express_go_to_sdpa():
    assert kernel_options(CAUSAL_2_10, 0.5, 64, 8, 8, None) is None  # custom scale
    assert kernel_options(CAUSAL_2_10, None, 64, 8, 2, None) is None  # grouped-query heads
    assert kernel_options(CAUSAL_2_10, None, 64, 8, 8, 4096) is None  # sliding window


def test_packed_training_keeps_rows_and_says_so(tmp_path):
    from datasets import Dataset

    from bench.ablations import flatten_rows
    from bench.attention import varlen_unavailable_reason
    from tutor.engine.config import RunConfig
    from tutor.engine.training.packing import PackedRowsCollator
    from tutor.engine.training.train import build_trainer

    model = tiny_llama("sdpa")
    tokenizer = _tokenizer()
    dataset = Dataset.from_dict({"text": ["one two three four", "five six", "seven eight nine"]})
    config = RunConfig(speed="packed", batch_size=2, max_length=16)
    trainer = build_trainer(model, tokenizer, dataset, config, ["q_proj", "v_proj"], tmp_path, "cpu", "fp32", [])
    assert isinstance(trainer.data_collator, PackedRowsCollator)
    assert "packed rows: kept as rows, each document masked from the others" in trainer.speed_notes
    assert model.config._attn_implementation == "sdpa"
    assert "garbage collector: the heap at the start of training frozen out of its reach" in trainer.speed_notes
    padded = build_trainer(tiny_llama("sdpa"), tokenizer, dataset, RunConfig(speed="padded", batch_size=2, max_length=16),
                           ["q_proj"], tmp_path, "cpu", "fp32", [])
    assert [type(c).__name__ for c in trainer.callback_handler.callbacks].count("FrozenHeap") == 1
    assert "FrozenHeap" not in [type(c).__name__ for c in padded.callback_handler.callbacks]
    flat = build_trainer(tiny_llama("sdpa"), tokenizer, dataset, config, ["q_proj"], tmp_path, "cpu", "fp32", [])
    flash_here = varlen_unavailable_reason(flat.model.get_base_model()) is None
    flatten_rows(flat)  # the benchmark's ablation: one flattened row where flash attention runs
    if flash_here:
        assert flat.speed_notes[-1] == "packed rows: one flattened row, varlen flash attention per document"
        assert not isinstance(flat.data_collator, PackedRowsCollator)
    else:  # no GPU of compute capability 8.0: the rows stay rows, and the notes say why
        assert isinstance(flat.data_collator, PackedRowsCollator)
        assert flat.speed_notes[-1].startswith("varlen: not applied")


def test_the_frozen_heap_is_frozen_while_training_and_released_after():
    import gc

    from tutor.engine.training.train import FrozenHeap

    heap = FrozenHeap()
    heap.on_train_begin(None, None, None)
    try:
        assert gc.get_freeze_count() > 1000  # the interpreter, torch, transformers: all frozen
    finally:
        heap.on_train_end(None, None, None)
    assert gc.get_freeze_count() == 0


def _tokenizer():
    from tutor.engine.tiny import tiny_tokenizer

    return tiny_tokenizer()


def test_the_speed_setting_changes_the_optimizer_and_autocast_only_where_measured():
    from tutor.engine.config import RunConfig
    from tutor.engine.training.speed import plan_speed

    fast = plan_speed(RunConfig(), "cuda", "bf16")
    assert (fast.packed, fast.autocast, fast.optim) == (True, False, "adamw_8bit")
    padded = plan_speed(RunConfig(speed="padded"), "cuda", "bf16")
    assert (padded.packed, padded.autocast, padded.optim) == (False, True, "paged_adamw_8bit")  # the notebook's batches
    assert plan_speed(RunConfig(), "cuda", "fp16").autocast  # fp16 needs autocast's loss scaling
    cpu = plan_speed(RunConfig(speed="packed"), "cpu", "fp32")
    assert (cpu.packed, cpu.autocast, cpu.optim) == (True, False, "adamw_torch")
    assert plan_speed(RunConfig(optim="paged_adamw_8bit"), "cuda", "bf16").optim == "paged_adamw_8bit"
