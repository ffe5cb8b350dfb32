"""Measure a plan: 20 real training steps of the lab's own trainer, peak memory and tokens/s.

The model is the plan's, loaded in NF4 the way the lab loads it. When its weights are not on
this machine they are random, built from the config once and cached: peak memory and speed
depend on shapes, not on the values. Every row is exactly `max_length` tokens, the length
the planner assumes, so prediction and measurement describe the same work.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tutor import paths
from tutor.engine.planner import PlanSettings

WARMUP_STEPS = 5  # excluded from tokens/s: allocator growth, kernel autotuning, first-step compiles


def weights_folder(model: str, log=print) -> Path | str:
    """Where the plan's weights load from: a local folder, a cached hub id, or random weights."""
    import torch
    from huggingface_hub import try_to_load_from_cache
    from transformers import AutoModelForCausalLM

    from tutor.engine.anatomy import resolve_config
    from tutor.engine.presets import get_preset
    from tutor.engine.tiny import ensure_tiny, tiny_tokenizer

    preset = get_preset(model)
    if preset and preset.teaching:
        return ensure_tiny()
    local = Path(model).expanduser()
    if local.is_dir() and (any(local.glob("*.safetensors")) or any(local.glob("*.bin"))):
        return local
    hub_id = preset.hub_id if preset else model
    if not local.is_dir() and any(isinstance(try_to_load_from_cache(hub_id, name), str)
                                  for name in ("model.safetensors", "model.safetensors.index.json")):
        return hub_id
    config, label = resolve_config(model)
    folder = paths.models_dir() / f"random-{label.replace('/', '--')}"
    if not (folder / "config.json").exists():  # built once, then reused by every plan of this model
        log(f"{label} is not on this machine: building random weights from its config (once)")
        torch.manual_seed(0)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        with torch.device(device):
            model_obj = AutoModelForCausalLM.from_config(config.get_text_config(), dtype=torch.bfloat16)
        staging = Path(tempfile.mkdtemp(prefix=".random-", dir=paths.models_dir()))
        model_obj.save_pretrained(staging)
        tiny_tokenizer().save_pretrained(staging)  # ids stay below any model's vocabulary
        del model_obj
        staging.rename(folder)
    return folder


def measure(settings: PlanSettings, steps: int = 20, log=print) -> dict:
    """Train `steps` steps of `settings` on this machine's GPU (or CPU, as a smoke test)."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from transformers.trainer_callback import PrinterCallback

    from tutor.engine.config import RunConfig
    from tutor.engine.models import four_bit_config
    from tutor.engine.presets import detect_targets
    from tutor.engine.training.train import build_trainer

    cuda = torch.cuda.is_available()
    device, dtype = ("cuda", "bf16") if cuda and torch.cuda.is_bf16_supported() else (
        ("cuda", "fp16") if cuda else ("cpu", "fp32"))
    torch_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]
    source = weights_folder(settings.model, log)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(
        source, quantization_config=four_bit_config(torch_dtype), device_map={"": 0 if cuda else "cpu"},
        dtype=torch_dtype, local_files_only=True)
    weights_bytes = torch.cuda.memory_allocated() if cuda else 0
    vocab = min(len(tokenizer), model.config.get_text_config().vocab_size)
    generator = torch.Generator().manual_seed(0)
    rows = torch.randint(0, vocab, (settings.batch_size * (steps + 1), settings.max_length), generator=generator)
    config = RunConfig(
        model=str(source), batch_size=settings.batch_size, max_length=settings.max_length, lora_r=settings.rank,
        lora_alpha=settings.alpha, gradient_checkpointing=settings.gradient_checkpointing,
        optim=settings.optimizer, epochs=1, seed=0,
    )
    spec = settings.targets if isinstance(settings.targets, str) else list(settings.targets)
    seconds: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            seconds.append(time.perf_counter() - self.started)

    trainer = build_trainer(model, tokenizer, Dataset.from_dict({"input_ids": rows.tolist()}), config,
                            detect_targets(model, spec), Path(tempfile.mkdtemp()), device, dtype, [Clock()])
    trainer.args.max_steps = steps
    trainer.remove_callback(PrinterCallback)  # the caller prints the result, not every step's logs
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    timed = seconds[WARMUP_STEPS:] or seconds
    return {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "steps": len(seconds),
        "weights_bytes": weights_bytes,
        "peak_allocated_bytes": torch.cuda.max_memory_allocated() if cuda else None,
        "peak_reserved_bytes": torch.cuda.max_memory_reserved() if cuda else None,
        "tokens_per_s": settings.batch_size * settings.max_length * len(timed) / sum(timed),
        "trainable": trainer.model.get_nb_trainable_parameters()[0],
        "speed_notes": trainer.speed_notes,
        "weights_from": str(source),
    }
