"""Collators for the benchmark's torch.compile and CUDA-graph ablations: batches of one
static shape, built around the tutor's own collators."""

from __future__ import annotations


class FullRowsCollator:
    """The tutor's packed rows, each padded to `width` tokens (the padding one more document)."""

    def __init__(self, inner, width: int) -> None:
        self.inner, self.width = inner, width

    def __call__(self, examples):
        import torch

        batch = self.inner(examples)
        extra = self.width - batch["input_ids"].shape[1]
        if extra > 0:
            rows = batch["input_ids"].shape[0]
            fill = {"input_ids": self.inner.pad_token_id, "labels": -100}
            for key, value in fill.items():
                batch[key] = torch.cat([batch[key], torch.full((rows, extra), value, dtype=batch[key].dtype)], dim=1)
            batch["position_ids"] = torch.cat([batch["position_ids"], torch.arange(extra).expand(rows, extra)], dim=1)
        return batch


class StaticOffsetsCollator:
    """trl's padding-free batch with document offsets of a fixed size: the padding tail is one
    document, unused slots repeat the row's end (empty documents), the longest is max_length."""

    def __init__(self, inner, max_docs: int, max_length: int) -> None:
        self.inner, self.max_docs, self.max_length = inner, max_docs, max_length

    def __call__(self, examples):
        import torch

        batch = self.inner(examples)
        width = batch["input_ids"].shape[1]
        real = sum(len(e["input_ids"]) for e in examples)
        starts = [int(x) for x in batch["cu_seq_lens_q"][:-1] if x < real] + ([real] if real < width else [])
        cu = torch.full((self.max_docs + 1,), width, dtype=torch.int32)
        cu[: len(starts)] = torch.tensor(starts, dtype=torch.int32)
        batch["cu_seq_lens_q"] = batch["cu_seq_lens_k"] = cu
        batch["max_length_q"] = batch["max_length_k"] = self.max_length
        batch.pop("seq_idx", None)
        return batch
