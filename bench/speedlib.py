"""CPU-side logic of the training speed benchmark: data spread, results table, ratios.

Kept apart from `train_speed.py` (which needs a GPU) so it is unit-tested in CI.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Sequence

from tutor.engine.flops import H100_BF16_PEAK_FLOPS


def spread_samples(token_ids: Sequence[Sequence[int]], count: int, low: int, high: int, seed: int = 0) -> list[list[int]]:
    """`count` samples whose lengths spread uniformly over [low, high] tokens.

    Each sample is built by concatenating whole prompts (in a seeded shuffled order) and
    cutting at the drawn length, so the text stays real text and every config sees the
    same samples.
    """
    if not token_ids:
        raise ValueError("no prompts to build samples from")
    rng = random.Random(seed)
    pool = [list(ids) for ids in token_ids if ids]
    samples: list[list[int]] = []
    for _ in range(count):
        length = rng.randint(low, high)
        sample: list[int] = []
        while len(sample) < length:
            sample.extend(rng.choice(pool))
        samples.append(sample[:length])
    return samples


COLUMNS = (
    ("config", "{}"),
    ("tokens/s", "{:,.0f}"),
    ("step s", "{:.3f}"),
    ("epoch s", "{:.1f}"),
    ("peak alloc GiB", "{:.2f}"),
    ("peak rsrv GiB", "{:.2f}"),
    ("loss first", "{:.3f}"),
    ("loss last", "{:.3f}"),
    ("MFU %", "{:.1f}"),
)


def row_values(result: dict) -> list[str]:
    values = (
        result["config"],
        result["tokens_per_s"],
        result["mean_step_s"],
        result["epoch_s"],
        result["peak_allocated_bytes"] / 2**30,
        result["peak_reserved_bytes"] / 2**30,
        result["loss_first"],
        result["loss_last"],
        100 * result["mfu"],
    )
    return [fmt.format(v) for (_, fmt), v in zip(COLUMNS, values)]


def markdown_table(results: Sequence[dict]) -> str:
    header = "| " + " | ".join(name for name, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    lines = [header, rule] + ["| " + " | ".join(row_values(r)) + " |" for r in results]
    return "\n".join(lines)


def best_of(results: Sequence[dict], config: str) -> dict | None:
    """The fastest repeat of a config (the first run after start-up is often slow)."""
    runs = [r for r in results if r["config"] == config]
    return max(runs, key=lambda r: r["tokens_per_s"]) if runs else None


def median_tokens_per_s(results: Sequence[dict], config: str, warmup: int) -> float | None:
    """Real tokens a step over the median step time, every measured step of every repeat
    pooled: a check on best-of that one slow stretch of a noisy host cannot move much."""
    runs = [r for r in results if r["config"] == config and r.get("step_seconds")]
    seconds = [t for r in runs for t in r["step_seconds"][warmup:]]
    tokens = [n for r in runs for n in r["step_tokens"][warmup:]]
    if not seconds:
        return None
    return statistics.mean(tokens) / statistics.median(seconds)


def ratios(results: Sequence[dict], subject: str, references: Sequence[str], warmup: int = 5) -> dict[str, dict]:
    """Speed (best repeat, and pooled median) and peak-memory ratios of `subject` against each
    reference config."""
    mine = best_of(results, subject)
    out = {}
    for ref in references:
        other = best_of(results, ref)
        if mine and other and other["peak_allocated_bytes"]:
            out[ref] = {
                "speed": mine["tokens_per_s"] / other["tokens_per_s"],
                "peak_memory": mine["peak_allocated_bytes"] / other["peak_allocated_bytes"],
            }
            medians = median_tokens_per_s(results, subject, warmup), median_tokens_per_s(results, ref, warmup)
            if None not in medians:
                out[ref]["speed_median"] = medians[0] / medians[1]
    return out


def peak_note() -> str:
    return f"MFU against {H100_BF16_PEAK_FLOPS / 1e12:.0f} TFLOP/s dense bf16 (H100, measured)."
