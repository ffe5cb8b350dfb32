"""Unsloth as a configuration of the training speed benchmark (issue #20), beside bench/train_speed.py.

    python bench/unsloth_speed.py --models llama2-7b,qwen2-1.5b --site-unsloth /tmp/site-u --out OUT.json

Unsloth pins older transformers/trl/datasets than the main stack, so it runs from its own install
target: the model folders are built by train_speed.py's child under the main stack, and each Unsloth
configuration is a child whose PYTHONPATH is that target and the repo alone. The child loads the same
NF4 folder, trains on the same samples at the same batch, and is timed by train_speed's own clock,
instrumentation and result row. A child that fails writes the error (type and first line) instead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import deque
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Unsloth takes its fastest LoRA path only at dropout 0; "unsloth" keeps the benchmark's 0.05.
DROPOUT = {"unsloth": 0.05, "unsloth-dropout0": 0.0}
# packing=True: every other packed config (stock-best, tutor) packs too, and Unsloth supports it
# (its own varlen attention over the packed rows); left unset, Unsloth would pick padding-free.
# Unsloth's SFTConfig brings its own defaults (unsloth/models/rl.py in 2026.10.9: gradient
# accumulation 2, weight decay 0.001, 10 % warm-up, a log every step, the cache emptied every 250
# steps). The first run on the H200 kept them and so trained 8 rows a step against the others' 4.
# Pinned to transformers' own defaults, Unsloth's training code is the one difference left.
TRANSFORMERS_DEFAULTS = dict(gradient_accumulation_steps=1, weight_decay=0.0, warmup_steps=0, logging_steps=500,
                             torch_empty_cache_steps=None)
SETTINGS = dict(packing=True, optim="adamw_8bit", **TRANSFORMERS_DEFAULTS)


def run_unsloth(config: str, shape: str, folder: Path, steps: int, warmup: int, stage: list[str]) -> dict:
    """Train one Unsloth configuration; `stage` names the step in progress, for a failure entry."""
    stage[0] = "import unsloth"
    import unsloth  # noqa: F401  (before transformers, trl and peft: it patches them)
    from unsloth import FastLanguageModel

    import torch
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from bench.train_speed import (
        COMMON, DEVICE, MAX_LENGTH, TARGETS, load_samples, measure, quantized_folder, step_clock,
    )

    stage[0] = "load"
    cuda = DEVICE == "cuda"
    samples, tokenizer = load_samples()
    dataset = Dataset.from_dict({"input_ids": samples})
    model, _ = FastLanguageModel.from_pretrained(str(quantized_folder(folder)), max_seq_length=MAX_LENGTH,
                                                 load_in_4bit=True, dtype=torch.bfloat16 if cuda else None)
    weights_bytes = torch.cuda.memory_allocated() if cuda else 0
    stage[0] = "get_peft_model"
    model = FastLanguageModel.get_peft_model(model, r=16, lora_alpha=16, lora_dropout=DROPOUT[config], bias="none",
                                             target_modules=TARGETS[shape], use_gradient_checkpointing="unsloth",
                                             random_state=0)
    stage[0] = "trainer"
    clock = step_clock(cuda)
    settings = {**COMMON, **SETTINGS, "max_steps": steps}
    if not cuda:
        settings.update(use_cpu=True, bf16=False, optim="adamw_torch")  # bitsandbytes' 8-bit Adam is GPU-only
    # The tutor's tokenizer, not the one Unsloth loaded: every config tokenizes and pads alike.
    trainer = SFTTrainer(model=model, args=SFTConfig(output_dir=tempfile.mkdtemp(), **settings),
                         train_dataset=dataset, processing_class=tokenizer, callbacks=[clock])
    stage[0] = "train"
    result = measure(trainer, clock, config, shape, samples, tokenizer, weights_bytes, steps, warmup, False)
    result["settings"]["lora_dropout"] = DROPOUT[config]
    return result


def failure_entry(config: str, shape: str, stage: str, exc: BaseException) -> dict:
    """What a doc can quote: the exception's type and first line, the stage, the traceback's end."""
    text = str(exc).strip()
    return {"config": config, "model": shape, "stage": stage, "error_type": type(exc).__name__,
            "error": text.splitlines()[0] if text else "",
            "traceback_tail": "".join(traceback.format_exception(exc)[-6:])[-3000:]}


def child_main(args: argparse.Namespace) -> int:
    stage = ["start"]
    try:
        result = run_unsloth(args.config, args.model, Path(args.folder), args.steps, args.warmup, stage)
    except Exception as exc:  # the run's outcome either way: a row, or the error a doc can quote
        Path(args.result).write_text(json.dumps(failure_entry(args.config, args.model, stage[0], exc)))
        traceback.print_exc()
        return 1
    result["versions"] = stack_versions()
    Path(args.result).write_text(json.dumps(result))
    return 0


def stack_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("unsloth", "unsloth_zoo", "torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate",
                 "datasets", "triton", "xformers", "torchao"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def collect(result_file: Path, returncode: int, output_tail: list[str], config: str, shape: str) -> tuple[str, dict]:
    """("result", row) or ("failure", entry) from what a child left: its own failure entry if it
    wrote one, else its exit status and the end of its output (a crash, a kill, a timeout)."""
    text = result_file.read_text() if result_file.exists() else ""
    entry = json.loads(text) if text.strip() else None
    if entry is not None and "error_type" not in entry and returncode == 0:
        return "result", entry
    entry = entry if entry is not None and "error_type" in entry else {"config": config, "model": shape}
    return "failure", {**entry, "exit_code": returncode, "output_tail": "".join(output_tail)[-3000:]}


def run_child(argv: list[str], env: dict, timeout_s: float) -> tuple[int, list[str]]:
    """Run a child, echoing its output and keeping the end of it; killed after `timeout_s`."""
    tail: deque[str] = deque(maxlen=40)
    proc = subprocess.Popen([sys.executable, __file__, *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)

    def echo() -> None:
        for line in proc.stdout:
            sys.stdout.write(line)
            tail.append(line)

    reader = threading.Thread(target=echo, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
        tail.append(f"[killed after {timeout_s:.0f} s]\n")
    reader.join(timeout=5)
    return code, list(tail)


def unsloth_env(site: str) -> dict:
    """The Unsloth stack first, then the repo; none of the main stack's folder."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [site, str(REPO)]))}
    env.setdefault("UNSLOTH_COMPILE_LOCATION", str(Path(tempfile.gettempdir()) / "unsloth_compiled_cache"))
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="llama2-7b,qwen2-1.5b")
    parser.add_argument("--configs", default="unsloth,unsloth,unsloth-dropout0",
                        help="comma list; repeat a name to repeat it (the first run after start-up is slow)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--site-unsloth", default="/tmp/site-u", help="install target of .whl-unsloth")
    parser.add_argument("--budget-s", type=float, default=510,
                        help="start no child after this many seconds; each child gets what is left")
    parser.add_argument("--out", default="bench/results/unsloth_speed.json")
    parser.add_argument("--workdir", default=os.environ.get("TMPDIR", "/tmp"))
    # child-process arguments
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.config:
        sys.exit(child_main(args))

    from bench.train_speed import run_child as train_speed_child, versions

    started = time.monotonic()
    left = lambda: args.budget_s - (time.monotonic() - started)  # noqa: E731
    report = {"main_stack": versions(), "results": [], "failures": [], "skipped": []}
    env = unsloth_env(args.site_unsloth)
    shapes = args.models.split(",")
    folders = {shape: Path(args.workdir) / f"bench-{shape}" for shape in shapes}
    for shape in list(shapes):
        try:
            train_speed_child(["--build", "--model", shape, "--folder", str(folders[shape])],
                              script=str(REPO / "bench" / "train_speed.py"))
        except subprocess.CalledProcessError as exc:
            report["failures"].append({"config": "build", "model": shape, "exit_code": exc.returncode})
            shapes.remove(shape)
    # Round by round, so that when the budget runs out it is the last repeats that are missing.
    for name in args.configs.split(","):
        for shape in shapes:
            if left() < 60:
                report["skipped"].append({"config": name, "model": shape})
                continue
            out = Path(tempfile.mkstemp(suffix=".json")[1])
            code, tail = run_child(["--config", name, "--model", shape, "--folder", str(folders[shape]),
                                    "--result", str(out), "--steps", str(args.steps), "--warmup", str(args.warmup)],
                                   env, left())
            kind, entry = collect(out, code, tail, name, shape)
            report["results" if kind == "result" else "failures"].append(entry)
            print(f"done {shape} {name}: {kind} at {time.monotonic() - started:.0f} s", flush=True)
            write(args.out, report)
    write(args.out, report)
    summary = [{k: r.get(k) for k in ("model", "config", "tokens_per_s", "peak_allocated_bytes", "loss_last")}
               for r in report["results"]]
    print(json.dumps({"results": summary, "failures": report["failures"], "skipped": report["skipped"]}, indent=1))


def write(out: str, report: dict) -> None:
    """Written after every child, so a run cut short still leaves its rows."""
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
