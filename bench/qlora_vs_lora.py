"""QLoRA against 16-bit LoRA: what the 4-bit base costs per step and saves in memory.

    python bench/qlora_vs_lora.py --out bench/results/h200-qlora-vs-lora.json

Only the base differs: NF4 + double quantization with bf16 compute, or plain bf16. Same
random-weight Llama-2-7B shape, same LoRA (r 16 on q/k/v/o), same batch (4 x 512 random
tokens), paged 8-bit AdamW, gradient checkpointing on. One child process per measurement,
the two configs alternating, so neither always runs on a warmer GPU; the summary gives each
config's median and best, never a single pair. `--model smoke` with BENCH_DEVICE=cpu checks
the script itself on a CPU.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.train_speed import (  # noqa: E402
    BATCH, DEVICE, DEVICE_MAP, MAX_LENGTH, TARGETS, quantized_folder, run_child, versions,
)

CONFIGS = ("qlora", "lora16")
RANK = 16


def measure(config: str, shape: str, folder: Path, steps: int, warmup: int) -> dict:
    """Train `steps` steps in this process and time the ones after `warmup`."""
    import time

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    cuda = DEVICE == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    source = quantized_folder(folder) if config == "qlora" else folder
    model = AutoModelForCausalLM.from_pretrained(source, device_map=DEVICE_MAP, dtype=torch.bfloat16)
    weights_bytes = torch.cuda.memory_allocated() if cuda else 0
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False
    model = get_peft_model(model, LoraConfig(r=RANK, lora_alpha=RANK, lora_dropout=0.05,
                                             target_modules=TARGETS[shape], task_type="CAUSAL_LM"))
    model.train()  # gradient checkpointing only acts in training mode
    trainable = [p for p in model.parameters() if p.requires_grad]
    if cuda:
        import bitsandbytes

        optimizer = bitsandbytes.optim.PagedAdamW8bit(trainable, lr=2e-4)
    else:
        optimizer = torch.optim.AdamW(trainable, lr=2e-4)  # bitsandbytes pages through CUDA only
    generator = torch.Generator().manual_seed(0)
    batch = torch.randint(model.config.vocab_size, (BATCH, MAX_LENGTH), generator=generator).to(model.device)
    step_seconds, losses = [], []
    for _ in range(steps):
        sync()
        start = time.perf_counter()
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        step_seconds.append(time.perf_counter() - start)
        losses.append(loss.item())
    timed = step_seconds[warmup:]
    return {
        "config": config, "model": shape,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "median_step_s": statistics.median(timed),
        "tokens_per_s": BATCH * MAX_LENGTH / statistics.median(timed),
        "step_seconds": step_seconds, "warmup": warmup, "losses": losses,
        "weights_bytes": weights_bytes,
        "peak_allocated_bytes": torch.cuda.max_memory_allocated() if cuda else 0,
        "peak_reserved_bytes": torch.cuda.max_memory_reserved() if cuda else 0,
    }


def summarize(results: list[dict]) -> dict:
    """Per config: median and best tokens/s over the repeats and the highest peak; then how
    much longer a QLoRA step takes than a 16-bit LoRA step (median over median, best over best)."""
    per_config = {}
    for config in CONFIGS:
        runs = [r for r in results if r["config"] == config]
        if runs:
            speeds = [r["tokens_per_s"] for r in runs]
            per_config[config] = {
                "repeats": len(runs), "median_tokens_per_s": statistics.median(speeds),
                "best_tokens_per_s": max(speeds),
                "peak_allocated_bytes": max(r["peak_allocated_bytes"] for r in runs),
                "weights_bytes": max(r["weights_bytes"] for r in runs),
            }
    summary = {"configs": per_config}
    if len(per_config) == len(CONFIGS):
        lora16, qlora = per_config["lora16"], per_config["qlora"]
        summary["qlora_step_time_ratio_median"] = lora16["median_tokens_per_s"] / qlora["median_tokens_per_s"]
        summary["qlora_step_time_ratio_best"] = lora16["best_tokens_per_s"] / qlora["best_tokens_per_s"]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama2-7b")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each config, alternating")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", default="bench/results/qlora-vs-lora.json")
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    parser.add_argument("--config", help=argparse.SUPPRESS)  # child: measure this config
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.config:
        result = measure(args.config, args.model, Path(args.folder), args.steps, args.warmup)
        Path(args.result).write_text(json.dumps(result))
        return

    folder = Path(args.workdir) / f"bench-{args.model}"
    run_child(["--build", "--model", args.model, "--folder", str(folder)])  # train_speed.py builds both folders
    results = []
    for repeat in range(args.repeats):
        for config in CONFIGS:
            out = Path(tempfile.mkstemp(suffix=".json")[1])
            run_child(["--config", config, "--model", args.model, "--folder", str(folder), "--result", str(out),
                            "--steps", str(args.steps), "--warmup", str(args.warmup)], script=__file__)
            results.append(json.loads(out.read_text()))
            print(f"repeat {repeat + 1} {config}: {results[-1]['tokens_per_s']:,.0f} tokens/s", flush=True)
    report = {"device": results[0]["device"], "date": datetime.date.today().isoformat(),
              "versions": versions(), "batch": BATCH, "max_length": MAX_LENGTH, "rank": RANK,
              "results": results, "qlora_vs_lora": summarize(results)}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(report["qlora_vs_lora"], indent=1))


if __name__ == "__main__":
    main()
