"""Loading the base model (4-bit NF4 or 16-bit), choosing device and dtype, and saying why
a load failed in words a learner can act on.

`--model` accepts a preset name (tutor.engine.presets), a local folder, or a hub id.
`materialize_random(preset, folder)` writes a random-weight model of a preset's shape, so a
benchmark can run a 7B-shaped job without downloading anything.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from tutor.engine.config import RunConfig
from tutor.engine.errors import LabError, first_line
from tutor.engine.presets import PRESETS, Preset, get_preset

CPU_PARAM_LIMIT = 1.5e9  # above this a CPU run would take hours: say so instead
DTYPE_NAMES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


class ModelNotFoundError(LabError):
    hint = "Use --model tiny (the teaching model, runs on a CPU), another preset, or a local model folder."


class NoCudaError(LabError):
    hint = "This model needs an NVIDIA GPU. --model tiny runs on CPU and shows the same workflow."


@dataclass(frozen=True)
class ModelSource:
    """Where a `--model` value points: what to pass to from_pretrained, and what it is."""

    name: str
    location: str  # local folder or hub id
    preset: Preset | None
    teaching: bool


def resolve_model(name: str) -> ModelSource:
    """Preset, then local folder, then hub id; anything else is a clear error."""
    preset = get_preset(name)
    if preset is not None and preset.hub_id is None:
        from tutor.engine.tiny import ensure_tiny

        return ModelSource(preset.name, str(ensure_tiny()), preset, teaching=True)
    if preset is not None:
        return ModelSource(preset.name, preset.hub_id, preset, teaching=False)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelNotFoundError(f"{path} is a folder but holds no config.json")
        return ModelSource(path.name, str(path.resolve()), None, teaching=(path / "teaching_model.json").exists())
    if name.count("/") == 1 and not name.startswith((".", "/", "~")):
        return ModelSource(name, name, None, teaching=False)
    raise ModelNotFoundError(
        f"unknown model {name!r}: not a preset ({', '.join(PRESETS)}), a local folder, or a hub id"
    )


def pick_device(config: RunConfig) -> str:
    import torch

    has_cuda = torch.cuda.is_available()
    if config.device == "cuda" and not has_cuda:
        raise NoCudaError("device = cuda was asked for, but no CUDA GPU is visible")
    return "cuda" if (config.device == "auto" and has_cuda) or config.device == "cuda" else "cpu"


def pick_compute_dtype(config: RunConfig, device: str) -> tuple[str, str | None]:
    """(dtype name, warning or None): bf16 falls back to fp16 on GPUs without it, fp32 on CPU."""
    import torch

    if config.compute_dtype == "bf16" and device == "cuda" and not torch.cuda.is_bf16_supported():
        return "fp16", "this GPU has no bf16: computing in fp16 instead"
    if config.compute_dtype == "bf16" and device == "cpu":
        # Measured on tiny: bf16 matmuls on an AVX2 CPU made training ~5x slower than fp32.
        return "fp32", "bf16 is slow on CPUs: computing in fp32 (the weights stay stored in 4 bits)"
    return config.compute_dtype, None


def four_bit_config(torch_dtype, quant_type: str = "nf4", double_quant: bool = True, fsdp: bool = False):
    """The BitsAndBytesConfig of every 4-bit load: QLoRA's NF4 + double quantization by default.

    FSDP shards only floating-point tensors, so for FSDP-QLoRA the packed 4-bit weights are
    stored in the compute dtype instead of uint8 (bitsandbytes' and peft's FSDP-QLoRA guides).
    """
    from transformers import BitsAndBytesConfig

    storage = {"bnb_4bit_quant_storage": torch_dtype} if fsdp else {}
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant_type,
        bnb_4bit_use_double_quant=double_quant,
        bnb_4bit_compute_dtype=torch_dtype,
        **storage,
    )


def device_map(device: str, spread: bool = False) -> dict | str:
    """The whole model on one device: this process's GPU (its LOCAL_RANK under accelerate
    launch, else the first), or the CPU. `spread`: layers split over every visible GPU, for
    answering with a model that only FSDP trains (one GPU cannot hold it)."""
    if device != "cuda":
        return {"": "cpu"}
    return "auto" if spread else {"": int(os.environ.get("LOCAL_RANK", "0"))}


def fsdp_rank(config: RunConfig) -> bool:
    """True in a process of an FSDP launch (accelerate sets ACCELERATE_USE_FSDP for it)."""
    return config.fsdp and os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true"


def load_base(config: RunConfig, source: ModelSource, device: str, dtype: str, for_training: bool):
    """(model, tokenizer): the base model, in 4 bits if the config says so, on `device`."""
    import torch
    from transformers import AutoModelForCausalLM

    check_fits_device(source, device)
    tokenizer = load_tokenizer(source.location)
    torch_dtype = getattr(torch, DTYPE_NAMES[dtype])
    sharded = fsdp_rank(config)  # then accelerate places the weights: rank 0 loads, FSDP shards
    kwargs = dict(dtype=torch_dtype) if sharded else dict(dtype=torch_dtype, device_map=device_map(device, config.fsdp))
    if config.load_in_4bit:
        kwargs["quantization_config"] = four_bit_config(torch_dtype, config.quant_type, config.double_quant,
                                                        fsdp=sharded)
    model = _from_pretrained(AutoModelForCausalLM, source, **kwargs)
    model.config.use_cache = not for_training
    return model, tokenizer


def load_adapter_model(adapter_dir: Path, config: RunConfig, device: str, dtype: str):
    """The base model with a saved adapter on top, reloaded the way the QLoRA notebook does it."""
    import torch
    from peft import AutoPeftModelForCausalLM

    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").exists():
        raise ModelNotFoundError(
            f"{adapter_dir} holds no adapter_config.json", "Pass the adapter/ folder of a finished train run."
        )
    torch_dtype = getattr(torch, DTYPE_NAMES[dtype])
    kwargs = dict(dtype=torch_dtype, is_trainable=False, device_map=device_map(device, config.fsdp))
    if config.load_in_4bit:
        kwargs["quantization_config"] = four_bit_config(torch_dtype, config.quant_type, config.double_quant)
    try:
        model = AutoPeftModelForCausalLM.from_pretrained(str(adapter_dir), **kwargs)
    except RuntimeError as exc:  # torch's "size mismatch for ...lora_A..." from loading the state dict
        if "size mismatch" not in str(exc):
            raise
        raise ModelNotFoundError(f"the adapter in {adapter_dir} does not fit its base model: its matrices have "
                                 "other shapes", "Use the adapter with the base model it was trained on.") from None
    model.eval()
    return model


def adapter_base_location(adapter_dir: Path) -> str:
    import json

    try:
        data = json.loads((Path(adapter_dir) / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise ModelNotFoundError(
            f"{adapter_dir} holds no readable adapter_config.json", "Pass the adapter/ folder of a finished train run."
        ) from None
    return data.get("base_model_name_or_path") or ""


def adapter_model_name(adapter_dir: Path, model: str | None) -> str:
    """The model an adapter runs on, as a run should record it (`tiny` rather than its folder).

    `model` is what the learner asked for, if anything: an adapter only fits the base it was
    trained on, so a different one is refused here instead of being silently replaced.
    """
    base = adapter_base_location(adapter_dir)
    name = next((preset for preset in PRESETS if _same_place(resolve_model(preset).location, base)),
                base)
    if model is not None and not _same_place(resolve_model(model).location, base):
        raise LabError(f"the adapter in {adapter_dir} was trained on {name}, not on {model}",
                       "Leave out --model (the adapter's own base is used) or pass an adapter trained on that model.")
    return name


def _same_place(location: str, other: str) -> bool:
    """Two model locations (hub ids or folders) name the same model."""
    def canonical(where: str) -> str:
        path = Path(where).expanduser()
        return str(path.resolve()) if path.exists() else where
    return canonical(location) == canonical(other)


def load_tokenizer(location: str):
    from transformers import AutoTokenizer

    tokenizer = _from_pretrained(AutoTokenizer, ModelSource(location, location, None, False))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # as the QLoRA notebook does
    return tokenizer


def check_fits_device(source: ModelSource, device: str) -> None:
    if device != "cpu":
        return
    params = estimated_params(source)
    if params and params > CPU_PARAM_LIMIT:
        raise NoCudaError(f"{source.name} has about {params / 1e9:.1f}B parameters and no CUDA GPU is visible")


def source_config(source: ModelSource):
    """The model's transformers config from its preset or local folder, or None (a hub id that
    is not on disk, or an architecture transformers cannot read)."""
    from tutor.engine.presets import preset_config

    try:
        if source.preset is not None:
            return preset_config(source.preset.name)
        if Path(source.location).is_dir():
            from transformers import AutoConfig

            return AutoConfig.from_pretrained(source.location)
    except Exception:  # an exotic architecture: no estimate, no refusal
        return None
    return None


def estimated_params(source: ModelSource) -> int | None:
    """Parameter count from the preset or the local config, built on the meta device."""
    from tutor.engine.presets import meta_model

    config = source_config(source)
    try:
        return sum(p.numel() for p in meta_model(config).parameters()) if config is not None else None
    except Exception:  # an exotic architecture: no estimate, no refusal
        return None


UNGATED_MLP_TYPES = frozenset({"bloom", "gpt2", "gpt_neox", "opt", "falcon", "phi"})  # up/down, no gate


def shape_of(source: ModelSource):
    """The model's shape for the memory estimate (`memory.ModelShape`), from its config."""
    from tutor.engine.memory import ModelShape

    config = source_config(source)
    if config is None:
        return None
    try:
        text = config.get_text_config() if hasattr(config, "get_text_config") else config
        hidden = text.hidden_size
        heads = text.num_attention_heads
        head_dim = getattr(text, "head_dim", None) or hidden // heads
        kv_heads = getattr(text, "num_key_value_heads", None) or heads
        gated = text.model_type not in UNGATED_MLP_TYPES
        return ModelShape(
            hidden=hidden, layers=text.num_hidden_layers,
            intermediate=getattr(text, "intermediate_size", None) or 4 * hidden,
            vocab=text.vocab_size, kv_dim=kv_heads * head_dim,
            tied_embeddings=bool(getattr(text, "tie_word_embeddings", False)), gated_mlp=gated,
        )
    except Exception:  # an exotic architecture: no estimate
        return None


def count_params(model) -> int:
    """Parameters as the model has them, a 4-bit matrix counted by its original shape."""
    params = 0
    for p in model.parameters():
        shape = getattr(getattr(p, "quant_state", None), "shape", None)
        params += math.prod(shape) if shape is not None else p.numel()
    return params


def model_facts(model, source: ModelSource, device: str, quantized: bool) -> dict:
    """Fields of the `model` event: size in parameters and bytes, 4-bit vs 16-bit."""
    params = count_params(model)
    return dict(
        name=source.name, params=params, footprint_bytes=model.get_memory_footprint(),
        footprint_16bit_bytes=params * 2, device=device, quantized=quantized, teaching=source.teaching,
        vocab_size=model.get_input_embeddings().num_embeddings,
    )


def gpu_memory() -> dict | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return dict(
        allocated=torch.cuda.memory_allocated(), reserved=torch.cuda.memory_reserved(),
        max_allocated=torch.cuda.max_memory_allocated(), total=torch.cuda.get_device_properties(0).total_memory,
    )


def oom_error(config: RunConfig) -> LabError:
    """CUDA out of memory, with the memory at failure and what to lower first."""
    memory = gpu_memory() or {}
    gib = 1024**3
    used = f"{memory.get('max_allocated', 0) / gib:.1f} GiB peak of {memory.get('total', 0) / gib:.1f} GiB"
    lower = []
    if config.batch_size == "auto" or config.batch_size > 1:
        lower.append("batch_size (e.g. 1)")
    lower.append(f"max_length (now {config.max_length})")
    if not config.gradient_checkpointing:
        lower.append("turn gradient_checkpointing on")
    if not config.load_in_4bit:
        lower.append("load_in_4bit = true")
    lower.append(f"lora_r (now {config.lora_r})")
    return LabError(f"CUDA ran out of memory ({used})", "Lower " + ", ".join(lower) + ", or use a smaller model.")


def materialize_random(preset_name: str, folder: Path, dtype: str = "bf16", seed: int = 0) -> Path:
    """Write a random-weight model of a preset's shape, plus the tiny tokenizer, into `folder`.

    The weights are noise, so answers are gibberish, but memory, speed and the whole
    pipeline behave as with the real model: what a benchmark needs, offline.
    """
    import torch
    from transformers import AutoModelForCausalLM

    from tutor.engine.presets import preset_config
    from tutor.engine.tiny import ensure_tiny

    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise LabError(f"{folder} already exists and is not empty", "Pick a new folder.")
    config = preset_config(preset_name)
    tokenizer = load_tokenizer(str(ensure_tiny()))  # its ids fit every preset's vocabulary
    config.pad_token_id = tokenizer.pad_token_id
    config.bos_token_id = tokenizer.bos_token_id
    config.eos_token_id = tokenizer.eos_token_id
    torch.manual_seed(seed)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=getattr(torch, DTYPE_NAMES[dtype]))
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name or "ln_" in name:
                param.fill_(1.0)
            elif param.dim() == 1:
                param.zero_()
            else:
                param.normal_(0.0, 0.02)
    model.tie_weights()
    model.save_pretrained(folder, max_shard_size="2GB")
    tokenizer.save_pretrained(folder)
    return folder


def _from_pretrained(cls, source: ModelSource, **kwargs):
    """from_pretrained with hub/file failures turned into ModelNotFoundError."""
    try:
        return cls.from_pretrained(source.location, **kwargs)
    except OSError as exc:
        raise ModelNotFoundError(f"cannot load {source.name!r}: {first_line(exc, limit=300)}") from exc
