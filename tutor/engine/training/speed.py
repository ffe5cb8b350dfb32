"""The training speed settings: what `speed = packed` changes against the notebook's
`padded` batches, and why.

Profiled on a GPU (docs/benchmarks.md, "Where the time goes"), a QLoRA step is bound by the
host, not the GPU: the GPU waits for most of each step while Python launches thousands of
small kernels (LoRA, 4-bit dequantization, norms, recomputation under gradient
checkpointing). So the settings cut padding, Python and launches, not FLOPs; what each one
bought is in docs/benchmarks.md, "What each setting bought":

- packing: whole documents in full rows, no padding (trl's best-fit-decreasing packing);
  attention stays inside each document (`tutor.engine.training.packing`);
- no autocast: a model loaded in bf16 already computes in bf16, and autocast only adds a
  cast check and copies around every matmul (fp16 keeps autocast: it needs loss scaling);
- Liger's Triton kernels for RMSNorm, RoPE and SwiGLU, one kernel where eager PyTorch runs
  several, when liger-kernel is installed and knows the model type;
- 8-bit AdamW without paging: the adapter's optimizer state is a few MB that never needs it;
- each 4-bit layer, LoRA included, as one autograd function (tutor.engine.training.fastlora);
- SDPA without its cuDNN kernel: with the packed rows' document mask, PyTorch picks cuDNN's
  attention, whose host time per call costs more than the memory-efficient kernel's;
- the Python heap frozen out of the garbage collector while training: a full collection
  walks every object of the loaded model, a stall every few dozen steps;
- on one GPU, from the third step on, forward, loss and backward replayed as one CUDA graph
  (tutor.engine.training.step_graph), which takes the host out of the step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tutor.engine.config import RunConfig


def resolve_speed(config: RunConfig, device: str) -> str:
    """auto -> packed on a GPU (measured faster at the same memory and loss), padded on CPU,
    where the tiny model's short prompts would pack into so few rows that the loss curve
    the learner watches would have a handful of points."""
    if config.speed != "auto":
        return config.speed
    return "packed" if device == "cuda" else "padded"


@dataclass
class SpeedPlan:
    """What a run does for speed; `notes` says it in words for the run's log."""

    packed: bool
    autocast: bool
    optim: str
    step_graph: bool = False
    notes: list[str] = field(default_factory=list)


def plan_speed(config: RunConfig, device: str, dtype: str) -> SpeedPlan:
    cuda = device == "cuda"
    fast = resolve_speed(config, device) == "packed"
    if config.optim != "auto":
        optim = config.optim
    elif cuda and fast:
        optim = "adamw_8bit"
    elif cuda and config.load_in_4bit:
        optim = "paged_adamw_8bit"  # with padded batches; the notebook itself set no optimizer
    else:
        optim = "adamw_torch"
    notes = []
    if not cuda and optim.startswith("paged_"):
        notes.append(f"optimizer {optim} pages GPU memory, so on CPU: adamw_torch")
        optim = "adamw_torch"
    # bf16 without autocast only where the speed setting asks for it; fp16 always autocasts.
    autocast = cuda and (dtype == "fp16" or (dtype == "bf16" and not fast))
    # One process on one GPU, bf16 without autocast: what tutor.engine.training.step_graph captures.
    step_graph = cuda and fast and not autocast and config.gpus == 1 and not config.fsdp
    plan = SpeedPlan(packed=fast, autocast=autocast, optim=optim, step_graph=step_graph, notes=notes)
    plan.notes.append(f"speed setting: {'packed' if fast else 'padded'}")
    if fast and cuda:
        plan.notes.append(f"optimizer {optim}; {'autocast' if autocast else 'no autocast'} ({dtype})")
    return plan


def avoid_cudnn_attention() -> str:
    """Process-wide, which is right for a job's own process: SDPA then takes the
    memory-efficient kernel for masked attention (flash where there is no mask)."""
    import torch

    torch.backends.cuda.enable_cudnn_sdp(False)
    return "attention: SDPA's memory-efficient kernel, not cuDNN's (less host time a call)"


def apply_liger(model) -> str:
    """Swap in Liger's RMSNorm, RoPE and SwiGLU kernels for this model only (Liger's RoPE is
    process-wide; tutor.engine.training.scoped_patch keeps it to this model's modules);
    returns what happened, for the log."""
    from tutor.engine.training.scoped_patch import undone, within_calls

    try:
        from liger_kernel.transformers import _apply_liger_kernel_to_instance
        from liger_kernel.transformers.monkey_patch import MODEL_TYPE_TO_APPLY_LIGER_FN
    except ImportError:
        return "Liger kernels: not installed (pip install liger-kernel: about 14 % more tokens/s on an H100)"
    model_type = getattr(model.config, "model_type", None)
    if model_type not in MODEL_TYPE_TO_APPLY_LIGER_FN:
        return f"Liger kernels: none for model type {model_type!r}"
    with undone("transformers") as module_changes:
        _apply_liger_kernel_to_instance(model=model, rope=True, rms_norm=True, swiglu=True,
                                        cross_entropy=False, fused_linear_cross_entropy=False)
    within_calls(model, module_changes)
    return "Liger kernels: RMSNorm, RoPE, SwiGLU (this model only)"
