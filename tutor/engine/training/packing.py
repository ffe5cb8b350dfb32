"""Packed batches that keep documents apart without paying for one giant attention row.

trl's best-fit-decreasing packing fills rows of `max_length` tokens with whole documents,
then (padding-free mode) flattens the batch into a single row of batch x max_length tokens.
Under SDPA that row gets a dense document mask over (batch x max_length)^2 positions: four
times the attention work of four 512-token rows, on a slower masked kernel (rows against the
flattened row: docs/benchmarks.md, "What each setting bought").

This collator keeps each packed row a row, and the labels trl prepared (-100 on prompts and
non-assistant turns) as they are. Position ids restart at every document and no
attention mask is passed, so transformers builds a per-row document mask itself: no document
sees another (unlike 'wrapped' packing, whose loss fell far slower in the same measurement).
"""

from __future__ import annotations

from itertools import accumulate

IGNORE_INDEX = -100


class PackedRowsCollator:
    """Collates bfd-packed examples (`input_ids` + `seq_lengths`, and `labels` where trl masked
    tokens; without them every token counts) into document-masked rows, as wide as the
    longest row or, given `width`, always that wide (a captured step graph takes one shape)."""

    def __init__(self, pad_token_id: int, width: int | None = None) -> None:
        self.pad_token_id = pad_token_id
        self.width = width

    def __call__(self, examples: list[dict]) -> dict:
        import torch

        width = max([len(example["input_ids"]) for example in examples] + [self.width or 0])
        input_ids, labels, position_ids = [], [], []
        for example in examples:
            tokens = list(example["input_ids"])
            targets = list(example.get("labels", tokens))
            lengths = list(example["seq_lengths"])
            if sum(lengths) != len(tokens):
                raise ValueError(f"seq_lengths add up to {sum(lengths)}, the row has {len(tokens)} tokens")
            starts = set(accumulate([0] + lengths[:-1]))
            padding = width - len(tokens)
            input_ids.append(tokens + [self.pad_token_id] * padding)
            # A document's first token is not predicted from the previous document's last.
            labels.append([IGNORE_INDEX if i in starts else t for i, t in enumerate(targets)] + [IGNORE_INDEX] * padding)
            # Padding restarts at 0 too, so it forms a document of its own that nothing attends to.
            position_ids.append([p for length in lengths for p in range(length)] + list(range(padding)))
        return {
            "input_ids": torch.tensor(input_ids),
            "labels": torch.tensor(labels),
            "position_ids": torch.tensor(position_ids),
        }
