"""The speed benchmark's ablations of the tutor's trainer, each applied to the trainer the lab
builds (`tutor.engine.training.train.build_trainer`), so the product code has no benchmark knobs.

A config name "tutor+a+b" applies ablations a, then b. Each one changes the built trainer and
its `speed_notes` (the settings the results record) in the same way: a default it takes back
leaves the notes, a setting it adds joins them.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

Ablation = Callable[..., None]


def note(trainer, replaces: str, line: str | None = None) -> None:
    """Notes starting with `replaces` leave the recorded settings; `line`, if given, joins them."""
    trainer.speed_notes = [n for n in trainer.speed_notes if not n.startswith(replaces)] + ([line] if line else [])


def flatten_rows(trainer) -> None:
    """trl's own padding-free batches (one flattened row) with varlen flash attention per
    document, where it runs (bench/attention.py); otherwise the tutor's rows stay."""
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from bench.attention import register, varlen_unavailable_reason

    model = trainer.model.get_base_model()
    if not trainer.args.packing or (reason := varlen_unavailable_reason(model)) is not None:
        note(trainer, "varlen:", f"varlen: not applied ({reason or 'no packing'})")
        return
    model.set_attn_implementation(register())
    trainer.data_collator = DataCollatorForLanguageModeling(
        pad_token_id=trainer.processing_class.pad_token_id, padding_free=True,
        pad_to_multiple_of=trainer.args.pad_to_multiple_of)
    torch.backends.cuda.enable_cudnn_sdp(True)  # the tutor's SDPA setting has no attention left to serve
    note(trainer, "attention:")
    note(trainer, "packed rows:", "packed rows: one flattened row, varlen flash attention per document")


def paged_optimizer(trainer) -> None:
    """Paged 8-bit AdamW, what speed = padded picks, instead of the unpaged one (the optimizer is built in train())."""
    from transformers.training_args import OptimizerNames

    trainer.args.optim = OptimizerNames.PAGED_ADAMW_8BIT
    note(trainer, "optimizer", "optimizer paged_adamw_8bit")


def library_layers(trainer) -> None:
    """peft's and bitsandbytes' own 4-bit LoRA layers, not tutor.engine.training.fastlora's."""
    for module in trainer.model.modules():
        if "_library_forward" in module.__dict__:
            module.forward = module.__dict__.pop("_library_forward")
    note(trainer, "4-bit linear layers:")


def reentrant_checkpointing(trainer) -> None:
    """Recompute under no_grad; train() enables checkpointing from these arguments, and the
    reentrant kind needs gradients on the inputs."""
    for key in ("gradient_checkpointing_kwargs", "activation_checkpointing_kwargs"):
        if hasattr(trainer.args, key):
            setattr(trainer.args, key, {"use_reentrant": True})
    trainer.model.enable_input_require_grads()


def cudnn_attention(trainer) -> None:
    """SDPA's cuDNN attention back on (the tutor turns it off)."""
    import torch

    torch.backends.cuda.enable_cudnn_sdp(True)
    note(trainer, "attention:")


def collected_heap(trainer) -> None:
    """The garbage collector left to walk the whole heap (the tutor freezes it)."""
    from tutor.engine.training.train import FrozenHeap

    trainer.remove_callback(FrozenHeap)
    note(trainer, "garbage collector:")


def eager_steps(trainer) -> None:
    """Every step eager, rows as wide as their batch's longest: the tutor before its step graph."""
    graphs = getattr(trainer, "step_graph", None)
    if graphs is None:
        return
    trainer.training_step, trainer.log = graphs.eager_step, graphs.original_log
    trainer.remove_callback(graphs)
    trainer.data_collator.width = None
    note(trainer, "step graph:")
    note(trainer, "packed rows:", "packed rows: kept as rows, each document masked from the others")


def compiled_layers(trainer, mode: str, batch: int, max_length: int) -> None:
    """Decoder layers through torch.compile on batches of one static shape. `rows`: the tutor's
    rows padded to max_length; otherwise the flattened row (after flatten_rows) padded to
    batch x max_length, its attention left out of the graphs (`break`) or inside with
    document offsets of one static shape too; `...cudagraphs`: replayed as CUDA graphs."""
    import torch
    from transformers import AttentionInterface
    from transformers.modeling_layers import GradientCheckpointingLayer

    from bench.attention import VARLEN, varlen_attention_forward
    from bench.collators import FullRowsCollator, StaticOffsetsCollator

    if mode.startswith("rows"):
        trainer.data_collator = FullRowsCollator(trainer.data_collator, max_length)
    else:
        trainer.data_collator.pad_to_multiple_of = batch * max_length
        if mode == "break":
            AttentionInterface.register(VARLEN, torch.compiler.disable(varlen_attention_forward))
        else:
            trainer.data_collator = StaticOffsetsCollator(trainer.data_collator, max_docs=256, max_length=max_length)
    options = dict(dynamic=False, mode="reduce-overhead" if mode.endswith("cudagraphs") else None)
    for layer in trainer.model.modules():
        if isinstance(layer, GradientCheckpointingLayer):
            layer.compile(**options)
    note(trainer, "compile:", f"compile: decoder layers, {mode}")


def ablations(batch: int, max_length: int) -> dict[str, list[Ablation]]:
    """Each ablation name of a "tutor+..." config and the steps it applies, in order."""
    def compiled(mode: str) -> Ablation:
        return partial(compiled_layers, mode=mode, batch=batch, max_length=max_length)

    return {
        "varlen": [flatten_rows],
        "compile": [flatten_rows, compiled("break")],
        "cstatic": [flatten_rows, compiled("static")],
        "cgraph": [flatten_rows, compiled("cudagraphs")],
        "rcompile": [compiled("rows")],
        "rgraph": [compiled("rows-cudagraphs")],
        "paged": [paged_optimizer],
        "library": [library_layers],
        "reentrant": [reentrant_checkpointing],
        "cudnn": [cudnn_attention],
        "gc": [collected_heap],
        "eager": [eager_steps],
    }


def steps_for(config_name: str, batch: int, max_length: int) -> list[Ablation] | None:
    """The ablation steps a config name asks for; None if it is not a tutor config."""
    head, *extras = config_name.split("+")
    if head != "tutor":
        return None
    table = ablations(batch, max_length)
    return [step for extra in extras for step in table[extra]]
