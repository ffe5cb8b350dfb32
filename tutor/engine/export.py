"""Merge a trained adapter into its base and save one ordinary 16-bit model.

A 4-bit base is never merged in place: adding B·A to NF4 weights and rounding back to 4 bits
throws most of the small update away. The base is reloaded in bf16 instead, the adapter
merged (W' = W + alpha/r · B·A), and the result saved. That needs the whole 16-bit model in
RAM and on disk, so `plan_export` checks both before anything loads and refuses with the
numbers when they will not do.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tutor.engine.anatomy import AnatomyError, read_adapter_config, resolve_config
from tutor.engine.errors import LabError
from tutor.units import decimal_bytes
from tutor.storage import describe, inject_fault, staged_folder

BYTES_PER_PARAM = 2  # bf16
DISK_MARGIN = 1.05  # config, tokenizer and safetensors headers on top of the weights
RAM_MARGIN = 1.5  # the loaded model plus the transient copies of merging and saving


class ExportError(LabError):
    """An export that cannot start; the message names what is missing and by how much."""


@dataclass(frozen=True)
class ExportPlan:
    adapter_dir: Path
    output_dir: Path
    base: str
    base_params: int
    disk_free: int
    ram_available: int

    @property
    def weight_bytes(self) -> int:
        return self.base_params * BYTES_PER_PARAM

    @property
    def disk_needed(self) -> int:
        return int(self.weight_bytes * DISK_MARGIN)

    @property
    def ram_needed(self) -> int:
        return int(self.weight_bytes * RAM_MARGIN)


def plan_export(adapter_dir: Path, output_dir: Path) -> ExportPlan:
    """Check the adapter, the output folder, disk and RAM; raise ExportError if any fails."""
    import psutil

    from tutor.engine.presets import meta_model

    try:
        base = str(read_adapter_config(adapter_dir).get("base_model_name_or_path") or "")
        config, _ = resolve_config(base)
    except AnatomyError as exc:
        raise ExportError(str(exc), exc.hint) from None
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())):
        raise ExportError(f"{output_dir} already exists and is not empty", "choose a new --output folder")
    plan = ExportPlan(
        adapter_dir=adapter_dir,
        output_dir=output_dir,
        base=base,
        base_params=sum(p.numel() for p in meta_model(config).parameters()),
        disk_free=shutil.disk_usage(_existing_ancestor(output_dir)).free,
        ram_available=psutil.virtual_memory().available,
    )
    if not os.access(_existing_ancestor(output_dir), os.W_OK):
        raise ExportError(f"cannot write to {_existing_ancestor(output_dir)} (read-only or not yours)",
                          "choose --output in a folder you can write")
    if plan.disk_free < plan.disk_needed:
        raise ExportError(
            f"not enough disk for the merged model: it needs {decimal_bytes(plan.disk_needed)}, "
            f"{_existing_ancestor(output_dir)} has {decimal_bytes(plan.disk_free)} free",
            "free some space or pick --output on another disk",
        )
    if plan.ram_available < plan.ram_needed:
        raise ExportError(
            f"not enough memory to merge: loading the 16-bit base needs about {decimal_bytes(plan.ram_needed)}, "
            f"{decimal_bytes(plan.ram_available)} is available",
            "close other programs or export on a machine with more RAM; "
            "the adapter alone still works with the 4-bit base",
        )
    return plan


def _existing_ancestor(path: Path) -> Path:
    path = path.expanduser().resolve()
    while not path.exists():
        path = path.parent
    return path


def export_merged(plan: ExportPlan) -> Path:
    """Reload the base in bf16, merge the adapter into it, save model and tokenizer."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tutor.engine.models import resolve_model

    source = resolve_model(plan.base).location
    try:
        base = AutoModelForCausalLM.from_pretrained(source, dtype=torch.bfloat16, local_files_only=True)
    except OSError as exc:
        raise ExportError(f"cannot load the base model '{plan.base}' on this machine: {exc}".splitlines()[0],
                          "its weights must be on disk (a local folder, or a hub id already downloaded)") from None
    try:
        merged = PeftModel.from_pretrained(base, plan.adapter_dir).merge_and_unload()
    except RuntimeError as exc:  # torch's "size mismatch for ...lora_A..." while loading the state dict
        if "size mismatch" not in str(exc):
            raise
        raise ExportError(f"the adapter in {plan.adapter_dir} does not fit '{plan.base}': its matrices have other "
                          f"shapes ({str(exc).strip().splitlines()[-1].strip()[:160]})",
                          "export it with the base model it was trained on") from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError):
        tokenizer = None  # a base without a tokenizer: the merged weights are still complete
    try:
        with staged_folder(plan.output_dir) as staging:  # the folder appears complete or not at all
            merged.save_pretrained(staging)
            inject_fault("export", plan.output_dir)
            if tokenizer is not None:
                tokenizer.save_pretrained(staging)
    except OSError as exc:
        raise ExportError(f"{describe(exc)}; nothing was left in {plan.output_dir}",
                          "free some space or choose --output on another disk") from None
    return plan.output_dir
