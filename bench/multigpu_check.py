"""Multi-GPU training through the tutor's own `train --gpus N`, on random weights of a preset.

1. Data parallel: the Llama-2-7B shape trained on 1 GPU, then on 2, same settings; the ratio
   of tokens/s (issue 21's target: at least 1.8x).
2. FSDP-QLoRA: a model whose one-GPU estimate is over a per-GPU cap, but whose FSDP share is
   under it, trained with `--fsdp` across N GPUs under `QLORA_TUTOR_GPU_MEMORY_LIMIT`; its
   peak must stay under the cap. (The cap is what the queue plans with; torch does not enforce
   it, so the check is the measured peak.)

Writes one JSON file. GPU machine with 2+ GPUs only (x2 for part 1, x2 or x4 for part 2):

    python3 bench/multigpu_check.py --out $OUT/multigpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tutor.engine.admission import job_peak_bytes
from tutor.engine.config import RunConfig
from tutor.engine.events import read_all
from tutor.engine.gpu_queue import ENV_GPU_LIMIT, GIB, memory_cap, visible_gpus
from tutor.engine.models import materialize_random

SETTINGS = dict(batch_size=4, max_length=512, epochs=3.0)  # the speed benchmarks' 7B batch


def size_in_bytes(cap: str) -> int:
    """`cap` read the way the queue reads QLORA_TUTOR_GPU_MEMORY_LIMIT."""
    os.environ[ENV_GPU_LIMIT] = cap
    try:
        return memory_cap()
    finally:
        del os.environ[ENV_GPU_LIMIT]


def train(model: Path, run: Path, env: dict, gpus: int, fsdp: bool = False) -> dict:
    """One `qlora-tutor train` run; what its events say about it."""
    command = [sys.executable, "-m", "tutor", "train", "--model", str(model), "--gpus", str(gpus),
               "--batch-size", str(SETTINGS["batch_size"]), "--max-length", str(SETTINGS["max_length"]),
               "--epochs", str(SETTINGS["epochs"]), "--max-new-tokens", "10", "--output", str(run), "--json"]
    if fsdp:
        command.append("--fsdp")
    started = time.monotonic()
    code = subprocess.run(command, stdout=subprocess.DEVNULL, env=env, timeout=3000).returncode
    events = read_all(run)
    summary = next((e for e in events if e["type"] == "summary"), {})
    error = next((e for e in events if e["type"] == "error"), None)
    admitted = next((e["admitted"] for e in events if e["type"] == "queue" and e["admitted"] is not None), None)
    return {
        "gpus": gpus, "fsdp": fsdp, "exit_code": code, "status": events[-1].get("status") if events else None,
        "wall_s": round(time.monotonic() - started, 1), "admitted_gpus": admitted,
        "need_bytes_per_gpu": next((e["need_bytes"] for e in events if e["type"] == "queue"), None),
        "tokens_per_s": summary.get("tokens_per_s"), "train_runtime": summary.get("train_runtime"),
        "global_step": summary.get("global_step"), "train_loss": summary.get("train_loss"),
        "peak_gpu_bytes_rank0": summary.get("peak_gpu_bytes"),
        "error": error and f"{error['message']} ({error['hint']})",
    }


def data_parallel(work: Path, env: dict, preset: str) -> dict:
    model = materialize_random(preset, work / preset)
    one = train(model, work / "dp-1gpu", env, gpus=1)
    two = train(model, work / "dp-2gpu", env, gpus=2)
    ratio = two["tokens_per_s"] / one["tokens_per_s"] if one["tokens_per_s"] and two["tokens_per_s"] else None
    return {"preset": preset, "settings": SETTINGS, "one_gpu": one, "two_gpus": two,
            "tokens_per_s_ratio": ratio and round(ratio, 3), "target_ratio": 1.8,
            "met": ratio is not None and ratio >= 1.8}


def fsdp_over_cap(work: Path, env: dict, preset: str, gpus: int, cap: str) -> dict:
    cap_bytes = size_in_bytes(cap)
    config = dict(model=preset, batch_size=SETTINGS["batch_size"], max_length=SETTINGS["max_length"])
    alone = job_peak_bytes(RunConfig(**config), "train")
    share = job_peak_bytes(RunConfig(**config, gpus=gpus, fsdp=True), "train")
    result = {"preset": preset, "gpus": gpus, "cap": cap, "cap_bytes": cap_bytes,
              "estimate_one_gpu_bytes": alone, "estimate_fsdp_share_bytes": share}
    if not (alone and share and share <= cap_bytes < alone):
        return {**result, "skipped": "the cap must lie between the FSDP share and the one-GPU estimate"}
    model = materialize_random(preset, work / preset)
    run = train(model, work / "fsdp", {**env, ENV_GPU_LIMIT: cap}, gpus=gpus, fsdp=True)
    peak = run["peak_gpu_bytes_rank0"]
    return {**result, "run": run, "under_cap": peak is not None and peak <= cap_bytes}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dp-preset", default="llama-2-7b")
    parser.add_argument("--fsdp-preset", default="llama-3.1-8b")
    parser.add_argument("--fsdp-gpus", type=int, default=2)
    parser.add_argument("--cap", default="6GiB", help="per-GPU budget of the FSDP part")
    parser.add_argument("--skip", choices=("dp", "fsdp"), help="run only the other part")
    args = parser.parse_args()
    gpus = visible_gpus()
    if len(gpus) < 2:
        raise SystemExit(f"needs 2 or more GPUs; this machine shows {len(gpus)}")
    work = Path(tempfile.mkdtemp(prefix="multigpu-check-"))
    env = dict(os.environ, QLORA_TUTOR_HOME=str(work / "home"), QLORA_TUTOR_QUEUE=str(work / "queue"))
    env.pop(ENV_GPU_LIMIT, None)
    report = {"gpus": [{"index": g.index, "total_gib": round(g.total / GIB, 1)} for g in gpus]}
    if args.skip != "dp":
        report["data_parallel"] = data_parallel(work, env, args.dp_preset)
    if args.skip != "fsdp":
        report["fsdp_qlora"] = fsdp_over_cap(work, env, args.fsdp_preset, args.fsdp_gpus, args.cap)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
