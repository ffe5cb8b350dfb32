"""Plan a QLoRA run before starting it: will it fit this GPU, how big is the adapter, how fast.

Memory comes from `tutor.engine.memory`'s bill with exact counts from peft on the meta
device (`tutor.engine.anatomy`): NF4 + double-quant base, fp32 adapter with its gradients and
optimizer state, activations for batch x max length. The headroom is what the committed GPU
runs reserved beyond their peak (PyTorch's caching allocator keeps freed blocks), plus the
CUDA context, which lives outside PyTorch's counters.

Speed is not modelled from first principles: a QLoRA step is host-bound (see
`tutor.engine.training.speed`), so the estimate scales a committed measurement of the lab's
own trainer (bench/results) by model FLOPs per token and by the GPUs' datasheet bf16 tensor
throughput, and says which measurement it started from.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from tutor.engine.errors import LabError
from tutor.engine.flops import MatmulShape, training_flops_per_token
from tutor.engine.memory import FP32_BYTES, ModelShape, activation_bytes, required_bytes

RESULTS_DIR = Path(__file__).resolve().parents[2] / "bench" / "results"
# The lab engine's committed defaults ("tutor" in bench/train_speed.py), measured on an H100:
REFERENCE_FILE, REFERENCE_RUNS = "h100-2026-11-24-b.json", ("final3_7b", "final4_7b", "final_bloomz2")
REFERENCE_CONFIG = "tutor"
BENCH_SHAPES = {"llama2-7b": "llama-2-7b", "bloomz-560m": "bloomz-560m"}  # benchmark shape -> preset
TOLERANCE = 0.15  # a prediction within 15 % of the measurement passes
OPTIMIZER_BYTES = {  # optimizer state per trainable parameter
    "adamw_8bit": 2, "paged_adamw_8bit": 2,  # two 8-bit moments (bitsandbytes)
    "adamw_torch": 8, "adamw_torch_fused": 8, "paged_adamw_32bit": 8,  # two fp32 moments
}
DEFAULT_OPTIMIZER = "adamw_8bit"  # the lab's choice on a GPU (tutor.engine.training.speed)


@dataclass(frozen=True)
class Gpu:
    label: str
    memory_bytes: float  # as the vendor states it, in 10^9 bytes
    tensor_tflops: float  # dense bf16 tensor throughput from the datasheet (fp16 where no bf16)
    bf16: bool = True
    datasheet: bool = True  # False: a local GPU whose throughput is not known, taken as the H100's


# Datasheet figures (NVIDIA product pages); dense, without sparsity.
GPUS: dict[str, Gpu] = {
    "t4": Gpu("T4 16 GB", 16e9, 65, bf16=False),
    "l4": Gpu("L4 24 GB", 24e9, 121),
    "rtx4090": Gpu("RTX 4090 24 GB", 24e9, 165),
    "a100-40": Gpu("A100 40 GB", 40e9, 312),
    "a100-80": Gpu("A100 80 GB", 80e9, 312),
    "h100": Gpu("H100 80 GB", 80e9, 989),
}
REFERENCE_GPU = GPUS["h100"]  # the committed measurements ran on an H100 80GB HBM3 (SXM)


class PlanError(LabError):
    hint = f"GPUs: {', '.join(GPUS)}, this"


def this_machine() -> Gpu:
    """The local CUDA GPU as a preset; its speed is unknown, so the H100 figure is scaled by 1."""
    import torch

    if not torch.cuda.is_available():
        raise PlanError("this machine has no CUDA GPU", f"Pick a GPU to plan for: {', '.join(GPUS)}")
    props = torch.cuda.get_device_properties(0)
    return Gpu(f"{props.name} (this machine)", float(props.total_memory), REFERENCE_GPU.tensor_tflops,
               bf16=torch.cuda.is_bf16_supported(), datasheet=False)


def find_gpu(name: str) -> Gpu:
    key = name.strip().lower()
    if key in ("this", "this-machine", "local"):
        return this_machine()
    if key not in GPUS:
        raise PlanError(f"unknown GPU {name!r}")
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
                raise PlanError(f"{name.replace('_', ' ')} must be 1 or more, got {getattr(self, name)}")
        if self.optimizer not in OPTIMIZER_BYTES:
            raise PlanError(f"unknown optimizer {self.optimizer!r}", f"Use one of: {', '.join(OPTIMIZER_BYTES)}")
        return self


@dataclass(frozen=True)
class Reference:
    """A committed measurement of the lab's trainer on a GPU: what the estimates start from."""

    model: str  # the preset of the same shape
    batch_size: int
    max_length: int
    runs: tuple[str, ...]  # file:run of each repeat
    tokens_per_s: float  # median over the repeats
    peak_bytes: float  # median peak allocated
    flops_per_token: float
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
    tokens_per_s: float
    reference: Reference

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
        return self.settings.batch_size * self.settings.max_length / self.tokens_per_s


def references() -> list[Reference]:
    """The lab trainer's committed GPU runs, one per model shape: medians over repeats."""
    from tutor.engine.presets import PRESETS

    runs: dict[str, list[dict]] = {}
    path = RESULTS_DIR / REFERENCE_FILE
    recorded = json.loads(path.read_text())["runs"] if path.exists() else {}
    for name in REFERENCE_RUNS:
        for result in recorded.get(name, {}).get("results", []):
            if result["config"] == REFERENCE_CONFIG:
                runs.setdefault(result["model"], []).append({**result, "file": f"{path.name}:{name}"})
    out = []
    for model, results in runs.items():
        first, preset = results[0], BENCH_SHAPES[model]
        batch, max_length = first["settings"]["batch"], first["settings"]["max_length"]
        config = PRESETS[preset].config
        shape = MatmulShape(matmul_params=first["matmul_params"], hidden=config["hidden_size"],
                          layers=config.get("num_hidden_layers") or config["n_layer"])
        out.append(Reference(
            model=preset, batch_size=batch, max_length=max_length, runs=tuple(r["file"] for r in results),
            tokens_per_s=statistics.median(r["tokens_per_s"] for r in results),
            peak_bytes=statistics.median(r["peak_allocated_bytes"] for r in results),
            flops_per_token=training_flops_per_token(shape, min(max_length, first["tokens_per_step"] / batch)),
            peak_reserved_ratio=max(r["peak_reserved_bytes"] / r["peak_allocated_bytes"] for r in results),
        ))
    return out


def plan(settings: PlanSettings) -> Plan:
    """Predict memory, adapter size and speed for `settings` (the model built on the meta device)."""
    from tutor.engine.anatomy import LoraSettings, inspect_model, resolve_config

    settings = settings.validated()
    gpu = find_gpu(settings.gpu)
    config, label = resolve_config(settings.model)
    anatomy = inspect_model(settings.model, LoraSettings(rank=settings.rank, alpha=settings.alpha,
                                                        targets=settings.targets))
    text = config.get_text_config()
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
    matmul = anatomy.quantizable_params + text.vocab_size * text.hidden_size
    flops = training_flops_per_token(
        MatmulShape(matmul_params=matmul, layers=text.num_hidden_layers, hidden=text.hidden_size), settings.max_length)
    refs = references()
    if not refs:
        raise PlanError("no committed GPU measurements in bench/results to estimate speed from")
    reference = min(refs, key=lambda r: abs(math.log(r.flops_per_token / flops)))
    tokens_per_s = reference.tokens_per_s * reference.flops_per_token / flops * gpu.tensor_tflops / REFERENCE_GPU.tensor_tflops
    peak = sum(bill.values())
    return Plan(
        settings=settings, gpu=gpu, model_label=label, total_params=anatomy.total, trainable=trainable, bill=bill,
        headroom=required_bytes(peak, reserve=max(r.peak_reserved_ratio for r in refs) - 1) - peak,
        tokens_per_s=tokens_per_s, reference=reference,
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
