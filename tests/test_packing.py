import pytest

from tutor.engine.training.packing import IGNORE_INDEX, PackedRowsCollator


def test_rows_stay_rows_with_positions_restarting_per_document():
    batch = PackedRowsCollator(pad_token_id=0)([
        {"input_ids": [5, 6, 7, 8, 9], "seq_lengths": [3, 2]},
        {"input_ids": [4, 3, 2], "seq_lengths": [3]},
    ])
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9], [4, 3, 2, 0, 0]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 2, 0, 1]]
    assert "attention_mask" not in batch  # transformers derives the document mask from position_ids


def test_labels_ignore_document_starts_and_padding():
    batch = PackedRowsCollator(pad_token_id=0)([
        {"input_ids": [5, 6, 7, 8, 9], "seq_lengths": [3, 2]},
        {"input_ids": [4, 3, 2], "seq_lengths": [3]},
    ])
    x = IGNORE_INDEX
    assert batch["labels"].tolist() == [[x, 6, 7, x, 9], [x, 3, 2, x, x]]


def test_labels_trl_masked_stay_masked():
    """Prompt tokens trl set to -100 (completion_only_loss) must not count once packed."""
    x = IGNORE_INDEX
    batch = PackedRowsCollator(pad_token_id=0)([
        {"input_ids": [5, 6, 7, 8, 9], "labels": [x, x, 7, x, 9], "seq_lengths": [3, 2]},
    ])
    assert batch["labels"].tolist() == [[x, x, 7, x, 9]]


def test_mismatched_lengths_are_refused():

    with pytest.raises(ValueError, match="add up to 4"):
        PackedRowsCollator(0)([{"input_ids": [1, 2, 3], "seq_lengths": [2, 2]}])


def test_transformers_masks_documents_from_each_other():
    """The model must not let a document attend to the one packed before it (training: no KV cache)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2,
                                         attn_implementation="sdpa")).eval()
    collate = PackedRowsCollator(pad_token_id=0)
    packed = collate([{"input_ids": [3, 4, 5, 6, 7, 8], "seq_lengths": [3, 3]}])
    alone = collate([{"input_ids": [6, 7, 8], "seq_lengths": [3]}])
    with torch.no_grad():
        packed_logits = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=False).logits
        alone_logits = model(input_ids=alone["input_ids"], position_ids=alone["position_ids"], use_cache=False).logits
    torch.testing.assert_close(packed_logits[0, 3:], alone_logits[0], atol=1e-5, rtol=1e-5)


def test_auto_speed_packs_on_a_gpu_and_keeps_the_notebooks_padded_batches_on_cpu():
    from tutor.engine.config import RunConfig
    from tutor.engine.training.speed import resolve_speed

    assert resolve_speed(RunConfig(), "cuda") == "packed"
    assert resolve_speed(RunConfig(), "cpu") == "padded"
    assert resolve_speed(RunConfig(speed="packed"), "cpu") == "packed"
    assert RunConfig(speed="fast").validate()[0].field == "speed"


@pytest.mark.slow
def test_packed_training_job_on_tiny_learns_and_saves_an_adapter(tmp_path):
    """The whole packed path: trl's bfd packing, the collator swap, a child job, a saved adapter.
    On the CPU, whatever the machine: a GPU doubles the auto batch (fewer steps to compare)
    and adds the fused CUDA layers."""
    from tutor.engine.config import RunConfig
    from tutor.engine.events import read_all
    from tutor.engine.jobs import SubprocessRunner

    config = RunConfig(speed="packed", epochs=3, device="cpu")
    handle = SubprocessRunner().start("train", config, tmp_path / "run")
    assert handle.wait(timeout=240) == "finished"
    events = read_all(handle.run_dir)
    logs = [e["message"] for e in events if e["type"] == "log"]
    assert "speed setting: packed" in logs
    assert any(m.startswith("packed rows: kept as rows") for m in logs)  # no flash attention on a CPU
    losses = [e["loss"] for e in events if e["type"] == "progress"]
    assert len(losses) >= 3 and min(losses[-2:]) < losses[0]
    assert (handle.run_dir / "adapter" / "adapter_model.safetensors").exists()
