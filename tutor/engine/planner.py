"""Plan a QLoRA run before starting it: will it fit this GPU, how big is the adapter, how fast.

Memory comes from `tutor.engine.memory`'s bill with exact counts from peft on the meta
device (`tutor.engine.anatomy`): NF4 + double-quant base, fp32 adapter with its gradients and
optimizer state, activations for batch x max length. The headroom is what the committed GPU
runs reserved beyond their peak (PyTorch's caching allocator keeps freed blocks, and the step
graph a pool of its own), plus the CUDA context, which lives outside PyTorch's counters.

Speed comes from `tutor.engine.step_time`: host seconds per layer plus the step's FLOPs at an
achieved FLOP/s, both fitted to the lab trainer's committed runs on the H200 and the H100.
Other GPUs take the H200 fit with its compute scaled by datasheet tensor throughput; every
estimate says which runs it came from.
"""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tutor.engine.errors import LabError
from tutor.engine.flops import MatmulShape, executed_flops_per_token
from tutor.engine.memory import FP32_BYTES, ModelShape, activation_bytes, required_bytes
from tutor.engine.step_time import (FITS, SCALED_FROM, SOURCES, Estimate, SpeedRun, StepFit, Workload, estimate,
                                     fit_per_gpu)

if TYPE_CHECKING:
    from tutor.engine.anatomy import Anatomy

# The committed runs the planner reads, shipped with the package: links to bench/results, which a
# wheel build copies in, so `pip install .` plans as a source checkout does.
MEASUREMENTS_DIR = Path(__file__).resolve().parents[1] / "data" / "measurements"
# The lab engine's committed defaults ("tutor" in bench/train_speed.py), measured on an H100:
REFERENCE_FILE, REFERENCE_RUNS = SOURCES["h100"]
REFERENCE_CONFIG = "tutor"
BENCH_SHAPES = {"llama2-7b": "llama-2-7b", "bloomz-560m": "bloomz-560m"}  # benchmark shape -> preset
# The same trainer with its step graph (H200): the graph keeps the step's activations in a memory
# pool of its own, so these runs reserve more beyond their peak than the eager ones above.
STEP_GRAPH_FILES = ("train-speed-llama2-7b-h200-2026-12-02.json", "train-speed-qwen2-1.5b-h200-2026-12-02.json",
                    "train-speed-qwen2-1.5b-cublas-h200-2026-12-03.json")
# "tutor+cublas" in the last file is today's default: freeing cuBLAS's workspaces before the
# capture lowered the peak allocated, not the reserved, so its ratio is the largest.
STEP_GRAPH_CONFIGS = (REFERENCE_CONFIG, "tutor+cublas")
TOLERANCE = 0.15  # a prediction within 15 % of the measurement passes
OPTIMIZER_BYTES = {  # optimizer state per trainable parameter
    "adamw_8bit": 2, "paged_adamw_8bit": 2,  # two 8-bit moments (bitsandbytes)
    "adamw_torch": 8, "adamw_torch_fused": 8, "paged_adamw_32bit": 8,  # two fp32 moments
}
DEFAULT_OPTIMIZER = "adamw_8bit"  # the lab's choice on a GPU (tutor.engine.training.speed)


@dataclass(frozen=True)
class Gpu:
    key: str  # its GPUS entry, which picks its speed fit; "this" for a local GPU of no listed kind
    label: str
    memory_bytes: float  # as the vendor states it, in 10^9 bytes
    tensor_tflops: float  # dense bf16 tensor throughput from the datasheet (fp16 where no bf16)
    bf16: bool = True
    datasheet: bool = True  # False: a local GPU whose throughput is not known, taken as SCALED_FROM's

    @property
    def name(self) -> str:
        return self.label.rsplit(" ", 2)[0]  # "RTX 4090 24 GB" -> "RTX 4090"


# Dense tensor throughput, without sparsity (NVIDIA's figures halve the "with sparsity" ones):
# T4 datasheet, 65 TFLOP/s mixed-precision fp16 (no bf16); L4 datasheet, 242 bf16 with sparsity;
# Ada Lovelace architecture whitepaper (RTX 4090), 165.2 fp16/bf16 with fp32 accumulate; A100
# datasheet, 312 bf16; H100 SXM and H200 SXM datasheets, 989 bf16.
GPUS: dict[str, Gpu] = {gpu.key: gpu for gpu in (
    Gpu("t4", "T4 16 GB", 16e9, 65, bf16=False),
    Gpu("l4", "L4 24 GB", 24e9, 121),
    Gpu("rtx4090", "RTX 4090 24 GB", 24e9, 165),
    Gpu("a100-40", "A100 40 GB", 40e9, 312),
    Gpu("a100-80", "A100 80 GB", 80e9, 312),
    Gpu("h100", "H100 80 GB", 80e9, 989),
    Gpu("h200", "H200 141 GB", 141e9, 989),
)}


class PlanError(LabError):
    """A plan that cannot be made; each raise says how to fix its own case."""


def this_machine() -> Gpu:
    """The local CUDA GPU: a listed kind (by its name) keeps that kind's speed; another is
    taken as fast as the GPU other estimates are scaled from."""
    import torch

    if not torch.cuda.is_available():
        raise PlanError("this machine has no CUDA GPU", f"Pick a GPU to plan for: {', '.join(GPUS)}")
    props = torch.cuda.get_device_properties(0)
    here = dict(label=f"{props.name} (this machine)", memory_bytes=float(props.total_memory),
                bf16=torch.cuda.is_bf16_supported())
    for gpu in GPUS.values():
        if re.search(rf"\b{re.escape(gpu.name)}\b", props.name):
            return dataclasses.replace(gpu, **here)
    return Gpu("this", tensor_tflops=GPUS[SCALED_FROM].tensor_tflops, datasheet=False, **here)


def find_gpu(name: str) -> Gpu:
    key = name.strip().lower()
    if key in ("this", "this-machine", "local"):
        return this_machine()
    if key not in GPUS:
        raise PlanError(f"unknown GPU {name!r}", f"GPUs: {', '.join(GPUS)}, this")
    return GPUS[key]


@dataclass(frozen=True)
class PlanSettings:
    model: str
    gpu: str = "t4"
    rank: int = 16
    alpha: int = 32
    targets: str | tuple[str, ...] = "auto"
    batch_size: int = 4
    max_length: int = 512
    gradient_checkpointing: bool = True
    optimizer: str = DEFAULT_OPTIMIZER

    def validated(self) -> PlanSettings:
        for name in ("rank", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise PlanError(f"{name.replace('_', ' ')} must be 1 or more, got {getattr(self, name)}",
                                "Rank, batch size and max length are whole numbers of 1 or more.")
        if self.optimizer not in OPTIMIZER_BYTES:
            raise PlanError(f"unknown optimizer {self.optimizer!r}", f"Use one of: {', '.join(OPTIMIZER_BYTES)}")
        return self


@dataclass(frozen=True)
class Reference:
    """A committed H100 benchmark run of the lab's trainer: memory checks, headroom and the H100 speed fit."""

    model: str  # the preset of the same shape
    batch_size: int
    max_length: int
    runs: tuple[str, ...]  # file:run of each repeat
    tokens_per_s: float  # median over the repeats
    tokens_per_step: float  # mean real tokens a step (packed rows of documents)
    peak_bytes: float  # median peak allocated
    peak_reserved_ratio: float  # largest peak reserved / peak allocated

    @property
    def label(self) -> str:
        return (f"{self.model}, batch {self.batch_size} x {self.max_length}, median of {len(self.runs)} runs "
                f"({', '.join(sorted(set(self.runs)))})")


@dataclass(frozen=True)
class Plan:
    settings: PlanSettings
    gpu: Gpu
    model_label: str
    total_params: int
    trainable: int
    bill: dict[str, float]  # bytes per component
    headroom: float  # bytes
    layers: int
    speed: Estimate

    @property
    def tokens_per_s(self) -> float:
        return self.settings.batch_size * self.settings.max_length / self.speed.step_s

    @property
    def peak(self) -> float:
        return sum(self.bill.values())

    @property
    def needed(self) -> float:
        return self.peak + self.headroom

    @property
    def fits(self) -> bool:
        return self.needed <= self.gpu.memory_bytes

    @property
    def adapter_file_bytes(self) -> int:
        return self.trainable * FP32_BYTES  # peft saves the adapter in fp32; the header adds a few KB

    @property
    def step_seconds(self) -> float:
        return self.speed.step_s


def references() -> list[Reference]:
    """The lab trainer's committed GPU runs, one per model shape: medians over repeats."""
    runs: dict[str, list[dict]] = {}
    path = MEASUREMENTS_DIR / REFERENCE_FILE
    recorded = json.loads(path.read_text())["runs"] if path.exists() else {}
    for name in REFERENCE_RUNS:
        for result in recorded.get(name, {}).get("results", []):
            if result["config"] == REFERENCE_CONFIG:
                runs.setdefault(result["model"], []).append({**result, "file": f"{path.name}:{name}"})
    out = []
    for model, results in runs.items():
        first = results[0]
        out.append(Reference(
            model=BENCH_SHAPES[model], batch_size=first["settings"]["batch"],
            max_length=first["settings"]["max_length"], runs=tuple(r["file"] for r in results),
            tokens_per_s=statistics.median(r["tokens_per_s"] for r in results),
            tokens_per_step=statistics.mean(r["tokens_per_step"] for r in results),
            peak_bytes=statistics.median(r["peak_allocated_bytes"] for r in results),
            peak_reserved_ratio=max(r["peak_reserved_bytes"] / r["peak_allocated_bytes"] for r in results),
        ))
    return out


def reserved_ratio(refs: list[Reference]) -> float:
    """The largest peak reserved / peak allocated of the lab trainer's committed GPU runs, eager
    (`refs`) and with the step graph: the allocator's share of the headroom."""
    ratios = [reference.peak_reserved_ratio for reference in refs]
    for name in STEP_GRAPH_FILES:
        path = MEASUREMENTS_DIR / name
        results = json.loads(path.read_text())["results"] if path.exists() else []
        ratios += [r["peak_reserved_bytes"] / r["peak_allocated_bytes"] for r in results if r["config"] in STEP_GRAPH_CONFIGS]
    return max(ratios)


def speed_runs() -> list[SpeedRun]:
    """Every committed run the step-time fits come from (step_time.SOURCES), with its workload as
    the planner counts it: the H200 plan checks, and the H100 benchmark's medians."""
    h200_file = SOURCES["h200"][0]
    runs = []
    for check in json.loads((MEASUREMENTS_DIR / h200_file).read_text())["checks"]:
        settings = PlanSettings(**{**check["plan"], "gpu": "h200"})
        runs.append(SpeedRun("h200", f"{settings.model}, r {settings.rank} {settings.targets}, {settings.batch_size} "
                                     f"x {settings.max_length} ({h200_file})",
                             workload(settings)[0], check["measured"]["tokens_per_s"]))
    for ref in references():
        settings = PlanSettings(model=ref.model, gpu="h100", rank=16, alpha=16, batch_size=ref.batch_size,
                                max_length=ref.max_length)
        runs.append(SpeedRun("h100", ref.label,
                             workload(settings, ref.tokens_per_step)[0], ref.tokens_per_s))
    return runs


def workload(settings: PlanSettings, tokens_per_step: float | None = None) -> tuple[Workload, Any, Anatomy, str]:
    """The step's workload, with the config and anatomy it was counted from. Rows hold
    `tokens_per_step / batch` real tokens (packed documents), `max_length` unless given."""
    from tutor.engine.anatomy import LoraSettings, inspect_model, resolve_config

    config, label = resolve_config(settings.model)
    anatomy = inspect_model(settings.model, LoraSettings(rank=settings.rank, alpha=settings.alpha,
                                                        targets=settings.targets))
    text = config.get_text_config()
    tokens = tokens_per_step or settings.batch_size * settings.max_length
    shape = MatmulShape(matmul_params=anatomy.quantizable_params + text.vocab_size * text.hidden_size,
                        layers=text.num_hidden_layers, hidden=text.hidden_size)
    flops = executed_flops_per_token(shape, min(settings.max_length, tokens / settings.batch_size),
                                     anatomy.quantizable_params, anatomy.trainable, settings.gradient_checkpointing)
    return Workload(text.num_hidden_layers, tokens, flops), text, anatomy, label


def speed(work: Workload, gpu: Gpu, fits: dict[str, StepFit] = FITS) -> Estimate:
    """The GPU's own fit where it has runs; otherwise SCALED_FROM's, compute scaled by datasheet
    tensor throughput and the host seconds kept (the host is the machine's CPU, not the GPU)."""
    if gpu.key in fits:
        return estimate(work, fits[gpu.key], f"fitted to the lab trainer's runs on an {GPUS[gpu.key].name} "
                                             f"({fit_source(gpu.key)})")
    source = GPUS[SCALED_FROM]
    basis = f"the fit to the lab trainer's runs on an {source.name} ({fit_source(SCALED_FROM)})"
    if not gpu.datasheet:
        return estimate(work, fits[SCALED_FROM], f"{basis}, as it is: this GPU's tensor throughput is not known")
    return estimate(work, fits[SCALED_FROM], f"scaled from {basis}: compute x {gpu.tensor_tflops:g}/"
                                             f"{source.tensor_tflops:g} (datasheet tensor TFLOP/s), host time as there",
                    compute_scale=gpu.tensor_tflops / source.tensor_tflops)


@dataclass(frozen=True)
class SpeedCheck:
    """A committed run against the estimate: fitted with it, and fitted without it."""

    run: SpeedRun
    fitted: float  # tokens/s from the committed fits
    left_out: float  # tokens/s from fits made without this run (a GPU left with one run is scaled, as any other)

    @property
    def fitted_error(self) -> float:
        return self.fitted / self.run.tokens_per_s - 1

    @property
    def left_out_error(self) -> float:
        return self.left_out / self.run.tokens_per_s - 1


def speed_checks(runs: list[SpeedRun]) -> list[SpeedCheck]:
    def predict(run: SpeedRun, fits: dict[str, StepFit]) -> float:
        return run.work.tokens_per_step / speed(run.work, GPUS[run.gpu], fits).step_s

    return [SpeedCheck(run, predict(run, FITS), predict(run, fit_per_gpu(runs[:i] + runs[i + 1:])))
            for i, run in enumerate(runs)]


def fit_source(gpu: str) -> str:
    file, runs = SOURCES[gpu]
    return f"bench/results/{file}" + (f": {', '.join(runs)}" if runs else "")


def plan(settings: PlanSettings) -> Plan:
    """Predict memory, adapter size and speed for `settings` (the model built on the meta device)."""
    settings = settings.validated()
    gpu = find_gpu(settings.gpu)
    work, text, anatomy, label = workload(settings)
    shape = ModelShape(hidden=text.hidden_size, layers=text.num_hidden_layers,
                       intermediate=getattr(text, "intermediate_size", 4 * text.hidden_size), vocab=text.vocab_size)
    trainable = anatomy.trainable
    bill = {
        "base weights (NF4 + 16-bit rest)": float(anatomy.base_nf4_bytes),
        "adapter (fp32)": trainable * FP32_BYTES,
        "adapter gradients": trainable * FP32_BYTES,
        "optimizer state": trainable * OPTIMIZER_BYTES[settings.optimizer],
        "activations": activation_bytes(shape, settings.batch_size, settings.max_length,
                                         settings.gradient_checkpointing),
    }
    refs = references()
    if not refs:
        raise PlanError(f"no committed GPU measurements in {MEASUREMENTS_DIR} to plan from",
                        "Reinstall qlora-tutor: the planner reads the measurements it ships with.")
    peak = sum(bill.values())
    return Plan(
        settings=settings, gpu=gpu, model_label=label, total_params=anatomy.total, trainable=trainable, bill=bill,
        headroom=required_bytes(peak, reserve=reserved_ratio(refs) - 1) - peak,
        layers=work.layers, speed=speed(work, gpu),
    )


@dataclass(frozen=True)
class Check:
    """A prediction held against a measurement of the same plan."""

    label: str
    predicted_peak: float
    measured_peak: float
    predicted_tokens_per_s: float
    measured_tokens_per_s: float

    @property
    def peak_error(self) -> float:
        return self.predicted_peak / self.measured_peak - 1

    @property
    def within(self) -> bool:
        return abs(self.peak_error) <= TOLERANCE


def committed_checks() -> list[Check]:
    """The planner against every committed reference run (the lab's defaults: r 16, alpha 16,
    auto targets, 8-bit AdamW). Speed matches by construction there; memory is the test."""
    checks = []
    for ref in references():
        predicted = plan(PlanSettings(model=ref.model, gpu="h100", rank=16, alpha=16, batch_size=ref.batch_size,
                                      max_length=ref.max_length))
        label = f"{ref.model}, {ref.batch_size} x {ref.max_length}, {len(ref.runs)} runs"
        checks.append(Check(label, predicted.peak, ref.peak_bytes, predicted.tokens_per_s, ref.tokens_per_s))
    return checks
