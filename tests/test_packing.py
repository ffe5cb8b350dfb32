from tutor.engine.packing import IGNORE_INDEX, PackedRowsCollator


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


def test_mismatched_lengths_are_refused():
    import pytest

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
