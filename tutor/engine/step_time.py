"""How long one QLoRA training step takes: a two-term model fitted to this project's GPU runs.

    step seconds = host seconds a layer x layers  +  tokens a step x FLOPs a token / achieved FLOP/s

The first term is the host: Python and kernel launches for each decoder layer's forward, its
recomputed forward and its backward, adapters and optimizer included. It does not grow with the
tokens, which is why a small model at a small batch runs far below the GPU's peak (the H100
profile in docs/benchmarks.md: GPU busy 0.17 s of a 0.38-0.46 s 7B step). The second is the
GPU's matmul work (`tutor.engine.flops.executed_flops_per_token`) at the FLOP/s the runs
achieved. A host cost per adapted module was tried as a third term: the committed runs do not
resolve it (its fitted value came out negative), so adapters count through their FLOPs only.

Both constants are fitted per GPU by least squares on the step time's relative error, from runs
of the lab's own trainer. `FITS` holds them and `SOURCES` the files they come from;
tests/test_step_time.py refits them from those files and fails when a constant drifts.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

# The committed runs of the lab's trainer (bench/results) each GPU's fit comes from:
SOURCES = {
    # all 4 checks: Llama-3.2-1B and Qwen3-1.7B, r 16 on q/k/v/o at 4 x 512 and r 64 on all linear at 8 x 1,024
    "h200": ("plan-check-h200-2026-12-02.json", ()),
    # config `tutor` (the lab's packed defaults) at 4 x 512; median tokens/s of each shape
    "h100": ("h100-2026-11-24-b.json", ("final3_7b", "final4_7b", "final_bloomz2")),
}
SCALED_FROM = "h200"  # a GPU without runs of its own: this fit, its compute scaled by datasheet throughput
# (the H200 fit predicts the H100's runs within 14 %; the H100 fit, from two runs, misses the H200's by up to 37 %)


@dataclass(frozen=True)
class StepFit:
    host_s_per_layer: float
    achieved_flops: float  # FLOP/s the GPU's matmul work ran at


# Fitted by `fit_per_gpu(planner.speed_runs())` to the runs in SOURCES; do not edit by hand.
FITS = {
    "h200": StepFit(host_s_per_layer=9.57e-3, achieved_flops=408e12),
    "h100": StepFit(host_s_per_layer=8.90e-3, achieved_flops=535e12),
}


@dataclass(frozen=True)
class Workload:
    """What a step asks of the machine."""

    layers: int
    tokens_per_step: float
    flops_per_token: float  # executed on the GPU, recompute included


@dataclass(frozen=True)
class Estimate:
    host_s: float
    compute_s: float
    achieved_flops: float
    basis: str  # which runs the estimate comes from, and how it was scaled

    @property
    def step_s(self) -> float:
        return self.host_s + self.compute_s


def estimate(work: Workload, fit: StepFit, basis: str, compute_scale: float = 1.0) -> Estimate:
    flops = fit.achieved_flops * compute_scale
    return Estimate(host_s=fit.host_s_per_layer * work.layers,
                    compute_s=work.tokens_per_step * work.flops_per_token / flops, achieved_flops=flops, basis=basis)


@dataclass(frozen=True)
class SpeedRun:
    """A committed measurement of the lab's trainer: the GPU it ran on, its workload, its speed."""

    gpu: str
    label: str
    work: Workload
    tokens_per_s: float

    @property
    def step_s(self) -> float:
        return self.work.tokens_per_step / self.tokens_per_s


def fit(runs: list[SpeedRun]) -> StepFit:
    """Least squares on (predicted / measured step time - 1), which is linear in the host seconds a
    layer and in 1 / FLOP/s: two normal equations."""
    rows = [(run.work.layers / run.step_s, run.work.tokens_per_step * run.work.flops_per_token / run.step_s)
            for run in runs]
    aa, ab, bb = (sum(a * a for a, _ in rows), sum(a * b for a, b in rows), sum(b * b for _, b in rows))
    a1, b1 = sum(a for a, _ in rows), sum(b for _, b in rows)
    det = aa * bb - ab * ab
    host, inverse_flops = ((a1 * bb - b1 * ab) / det, (b1 * aa - a1 * ab) / det) if det else (0.0, 0.0)
    if host <= 0 or inverse_flops <= 0:
        raise ValueError(f"these {len(runs)} runs do not separate host time from compute")
    return StepFit(host_s_per_layer=host, achieved_flops=1 / inverse_flops)


def fit_per_gpu(runs: list[SpeedRun]) -> dict[str, StepFit]:
    """One fit per GPU with at least two runs (two constants need two runs)."""
    by_gpu: dict[str, list[SpeedRun]] = defaultdict(list)
    for run in runs:
        by_gpu[run.gpu].append(run)
    return {gpu: fit(group) for gpu, group in by_gpu.items() if len(group) >= 2}
