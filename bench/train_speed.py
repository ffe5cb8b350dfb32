"""Training speed benchmark on the GPU: the QLoRA notebook's recipe vs the best stock settings vs the tutor.

    python bench/train_speed.py --models llama2-7b,bloomz-560m --out bench/results/h100.json

One child process per configuration, so each peak-memory figure is its own. Random weights
(no hub on the GPU machine): a model folder is built once per shape from its config and
loaded in 4-bit like a downloaded one. Every config trains on the same samples: the bundled
prompts, tokenized and stretched to a spread of 20-400 tokens.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.ablations import steps_for  # noqa: E402
from bench.profiling import GCClock, StackSampler, profile_summary  # noqa: E402
from bench.speedlib import markdown_table, peak_note, ratios, spread_samples  # noqa: E402

SHAPES = {
    "llama2-7b": dict(model_type="llama", hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=32, vocab_size=32000,
                      max_position_embeddings=4096),
    "bloomz-560m": dict(model_type="bloom", hidden_size=1024, n_layer=24, n_head=16, vocab_size=250880),
    # A second architecture: grouped-query attention, biased q/k/v, a 152k vocabulary, tied embeddings.
    "qwen2-1.5b": dict(model_type="qwen2", hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                       num_attention_heads=12, num_key_value_heads=2, vocab_size=151936,
                       max_position_embeddings=4096, tie_word_embeddings=True),
    # A CPU smoke test of this script itself (bitsandbytes' CPU backend), not a benchmark.
    "smoke": dict(model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=4, vocab_size=4096, max_position_embeddings=512),
}
TARGETS = {"llama2-7b": ["q_proj", "k_proj", "v_proj", "o_proj"], "bloomz-560m": ["query_key_value"],
           "qwen2-1.5b": ["q_proj", "k_proj", "v_proj", "o_proj"],
           "smoke": ["q_proj", "k_proj", "v_proj", "o_proj"]}

BATCH, MAX_LENGTH = 4, 512
DEVICE = "cuda" if os.environ.get("BENCH_DEVICE", "cuda") == "cuda" else "cpu"
DEVICE_MAP = {"": 0 if DEVICE == "cuda" else "cpu"}
COMMON = dict(per_device_train_batch_size=BATCH, max_length=MAX_LENGTH, learning_rate=2e-4, num_train_epochs=1,
              report_to=[], save_strategy="no", seed=0, data_seed=0)
# (a) the QLoRA notebook's recipe on today's libraries ("seed" in the result files committed
# before it was renamed), (b) the best stock settings, ablations of (b).
CONFIGS: dict[str, dict] = {
    "notebook": {},
    "stock-best": dict(packing=True, optim="paged_adamw_8bit"),
    "packing": dict(packing=True),
    "stock-nonreentrant": dict(packing=True, optim="paged_adamw_8bit",
                               gradient_checkpointing_kwargs={"use_reentrant": False}),
    "packing-sac": dict(packing=True, optim="paged_adamw_8bit",
                        gradient_checkpointing_kwargs={"selective": True, "use_reentrant": False}),
    "packing-compile": dict(packing=True, optim="paged_adamw_8bit", torch_compile=True),
    "packing-wrapped": dict(packing=True, packing_strategy="wrapped", optim="paged_adamw_8bit"),
    "packing-nogc": dict(packing=True, optim="paged_adamw_8bit", gradient_checkpointing=False),
}
# (c) the tutor's engine with its defaults; "tutor+a+b" adds the ablations a and b (bench/ablations.py).


def build_model_folder(shape: str, folder: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from tutor.engine.models import four_bit_config
    from tutor.engine.tiny import tiny_tokenizer

    if not (folder / "config.json").exists():
        params = dict(SHAPES[shape])
        config = AutoConfig.for_model(params.pop("model_type"), **params)
        torch.manual_seed(0)
        with torch.device(DEVICE):
            model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        model.save_pretrained(folder)
        tiny_tokenizer().save_pretrained(folder)  # so `qlora-tutor train --model FOLDER` can use it too
        del model
    nf4 = quantized_folder(folder)
    if not (nf4 / "config.json").exists():
        # Quantized once and saved: every config then loads the same NF4 weights in seconds.
        model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=four_bit_config(torch.bfloat16),
                                                     device_map=DEVICE_MAP, dtype=torch.bfloat16)
        model.save_pretrained(nf4)
        tiny_tokenizer().save_pretrained(nf4)


def quantized_folder(folder: Path) -> Path:
    return folder.with_name(folder.name + "-nf4")


def load_samples(count: int = 400) -> tuple[list[list[int]], object]:
    from tutor.engine.tiny import DATA_DIR, tiny_tokenizer  # the tutor's own offline tokenizer

    tokenizer = tiny_tokenizer()
    prompts = [json.loads(line)["prompt"] for line in (DATA_DIR / "prompts.jsonl").read_text().splitlines() if line]
    ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in prompts]
    return spread_samples(ids, count=count, low=20, high=400, seed=0), tokenizer


def run_one(config_name: str, shape: str, folder: Path, steps: int, warmup: int, profile: bool) -> dict:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    samples, tokenizer = load_samples()
    dataset = Dataset.from_dict({"input_ids": samples})
    model = AutoModelForCausalLM.from_pretrained(quantized_folder(folder), device_map=DEVICE_MAP, dtype=torch.bfloat16)
    cuda = DEVICE == "cuda"
    weights_bytes = torch.cuda.memory_allocated() if cuda else 0
    clock = step_clock(cuda)

    ablation_steps = steps_for(config_name, BATCH, MAX_LENGTH)
    if ablation_steps is not None:
        trainer = tutor_trainer(model, tokenizer, dataset, steps, [clock], cuda)
        for apply in ablation_steps:
            apply(trainer)
    else:
        lora = LoraConfig(r=16, lora_alpha=16, lora_dropout=0.05, bias="none", task_type="CAUSAL_LM",
                          target_modules=TARGETS[shape])
        settings = {**COMMON, **CONFIGS[config_name], "max_steps": steps}
        if not cuda:
            settings.update(use_cpu=True, bf16=False)
        trainer = SFTTrainer(model=model, args=SFTConfig(output_dir=tempfile.mkdtemp(), **settings),
                             train_dataset=dataset, peft_config=lora, processing_class=tokenizer, callbacks=[clock])
    return measure(trainer, clock, config_name, shape, samples, tokenizer, weights_bytes, steps, warmup, profile)


def step_clock(cuda: bool):
    """A trainer callback timing each step between synchronized GPU edges, and the GC pauses
    inside steps (`.step_seconds`, `.gc_clock`). transformers is imported here, not at module
    level, so that a caller which must import Unsloth first (it patches transformers) can use it."""
    import torch
    from transformers import TrainerCallback

    sync = torch.cuda.synchronize if cuda else (lambda: None)

    class Clock(TrainerCallback):
        def __init__(self):
            self.gc_clock, self.step_seconds = GCClock(), []

        def on_step_begin(self, args, state, control, **kw):
            sync()
            self.t0 = time.perf_counter()
            self.gc_clock.active = True

        def on_step_end(self, args, state, control, **kw):
            self.gc_clock.active = False
            sync()
            self.step_seconds.append(time.perf_counter() - self.t0)

    return Clock()


def measure(trainer, clock, config_name: str, shape: str, samples: list[list[int]], tokenizer, weights_bytes: int,
            steps: int, warmup: int, profile: bool) -> dict:
    """Train `trainer` (its callbacks include `clock`) and return the benchmark's result row."""
    import torch
    from transformers import TrainerCallback

    from bench.throughput import measured_window
    from tutor.engine.flops import MatmulShape, mfu

    cuda = DEVICE == "cuda"
    step_seconds, gc_clock = clock.step_seconds, clock.gc_clock
    settings = settings_summary(trainer)
    step_tokens, losses = instrument(trainer, tokenizer.pad_token_id)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    cpu_started = time.process_time()  # against wall time: was a slow run short of CPU?
    profile_table = None
    if profile:
        from torch.profiler import ProfilerActivity, profile as torch_profile, schedule

        class ProfilerStep(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                prof.step()

        trainer.add_callback(ProfilerStep())
        active = steps - warmup - 1
        with torch_profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA],
                           schedule=schedule(wait=warmup, warmup=1, active=active, repeat=1)) as prof:
            trainer.train()
        profile_table = profile_summary(prof.key_averages(), active, step_seconds[-active:])
        # Then Python's share of the host time, by sampling the training thread's stack.
        trainer.remove_callback(ProfilerStep)
        trainer.args.max_steps = steps + 2 * warmup
        with StackSampler() as sampler:
            trainer.train()
        profile_table["python_top"] = sampler.top(40)
    else:
        trainer.train()

    window = measured_window(step_tokens[: len(step_seconds)], step_seconds, warmup)
    n_step_tokens = sum(step_tokens[: len(step_seconds)]) / len(step_seconds)
    seq_len = min(MAX_LENGTH, n_step_tokens / BATCH)
    base = trainer.model.get_base_model()
    matmul = sum(m.weight.numel() * (2 if m.weight.dtype == torch.uint8 else 1)
                 for m in base.modules() if isinstance(m, torch.nn.Linear) and hasattr(m, "weight"))
    cfg = base.config
    shape_info = MatmulShape(matmul_params=matmul, layers=cfg.num_hidden_layers, hidden=cfg.hidden_size)
    dataset_tokens = sum(len(s) for s in samples)
    loss_values = [float(l) for l in losses]
    tail = loss_values[-5:]
    return {
        "config": config_name, "model": shape, "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "settings": settings,
        "tokens_per_s": window.tokens_per_s, "mean_step_s": window.mean_step_s, "measured_steps": window.steps,
        "epoch_s": dataset_tokens / window.tokens_per_s, "tokens_per_step": n_step_tokens,
        "peak_allocated_bytes": torch.cuda.max_memory_allocated() if cuda else 0,
        "peak_reserved_bytes": torch.cuda.max_memory_reserved() if cuda else 0,
        "weights_bytes": weights_bytes, "loss_first": loss_values[0], "loss_last": sum(tail) / len(tail),
        "losses": loss_values, "step_tokens": step_tokens[: len(step_seconds)], "step_seconds": step_seconds,
        "cpu_s_per_step": (time.process_time() - cpu_started) / len(step_seconds),
        "gc": gc_clock.stop(len(step_seconds)),
        "mfu": mfu(window.tokens_per_s, shape_info, seq_len), "matmul_params": matmul,
        "profile": profile_table,
    }


def tutor_trainer(model, tokenizer, dataset, steps: int, callbacks: list, cuda: bool):
    """(c): the lab engine's own trainer with its defaults, at the benchmark's batch budget."""
    from tutor.engine.config import RunConfig
    from tutor.engine.events import EventWriter
    from tutor.engine.presets import detect_targets
    from tutor.engine.training.train import ProgressCallback, build_trainer

    # BENCH_SPEED=packed exercises the GPU default in a CPU smoke run (auto means padded on CPU).
    config = RunConfig(batch_size=BATCH, max_length=MAX_LENGTH, seed=0, speed=os.environ.get("BENCH_SPEED", "auto"))
    device = "cuda" if cuda else "cpu"
    run_dir = Path(tempfile.mkdtemp())
    # The lab's own progress events ride along, as they do when the learner watches.
    progress = ProgressCallback(EventWriter(run_dir), should_stop=lambda: False)
    trainer = build_trainer(model, tokenizer, dataset, config, detect_targets(model.config), run_dir,
                            device, "bf16" if cuda else "fp32", [*callbacks, progress])
    trainer.args.max_steps = steps
    if graphs := getattr(trainer, "step_graph", None):  # its capture line joins the recorded settings
        graphs.report = lambda line: (print(line, flush=True), trainer.speed_notes.append(line))
    return trainer


def instrument(trainer, pad_token_id: int) -> tuple[list[int], list]:
    """Count each batch's real tokens as it is collated, keep each step's loss without a sync.
    One collated batch is one step only without gradient accumulation, so that is refused."""
    if trainer.args.gradient_accumulation_steps != 1:
        raise ValueError(f"gradient_accumulation_steps = {trainer.args.gradient_accumulation_steps}: the benchmark "
                         "counts one collated batch a step; set it to 1")
    step_tokens: list[int] = []
    losses: list = []
    collate, train_step = trainer.data_collator, trainer.training_step

    def counting_collator(examples):
        batch = collate(examples)
        mask = batch.get("attention_mask")
        real = mask.sum() if mask is not None else (batch["input_ids"] != pad_token_id).sum()
        step_tokens.append(int(real))
        return batch

    def recording_step(*args, **kwargs):
        loss = train_step(*args, **kwargs)
        losses.append(loss.detach())
        return loss

    trainer.data_collator = counting_collator
    trainer.training_step = recording_step
    return step_tokens, losses


def settings_summary(trainer) -> dict:
    a = trainer.args
    return {"packing": a.packing, "packing_strategy": a.packing_strategy, "optim": str(a.optim),
            "gradient_checkpointing": a.gradient_checkpointing,
            "gradient_checkpointing_kwargs": a.gradient_checkpointing_kwargs, "batch": a.per_device_train_batch_size,
            "gradient_accumulation_steps": a.gradient_accumulation_steps,
            "max_length": a.max_length, "collator": type(trainer.data_collator).__name__,
            "attn_implementation": trainer.model.config._attn_implementation,
            "speed_notes": getattr(trainer, "speed_notes", None),
            "accelerate_hooks": sum(hasattr(m, "_hf_hook") for m in trainer.model.modules()),
            "autocast": bool(a.bf16 or a.fp16)}


def child_main(args: argparse.Namespace) -> None:
    if args.build:
        build_model_folder(args.model, Path(args.folder))
        return
    result = run_one(args.config, args.model, Path(args.folder), args.steps, args.warmup, args.profile)
    Path(args.result).write_text(json.dumps(result))


def run_child(argv: list[str], script: str = __file__) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    subprocess.run([sys.executable, script, *argv], check=True, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="llama2-7b,bloomz-560m")
    parser.add_argument("--configs", default="notebook,notebook,stock-best,tutor",
                        help="comma list; repeat a name to repeat it (the first run after start-up is slow)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--profile", default="", help="comma list of configs to profile (torch profiler)")
    parser.add_argument("--out", default="bench/results/train_speed.json")
    parser.add_argument("--workdir", default=os.environ.get("TMPDIR", "/tmp"))
    # child-process arguments
    parser.add_argument("--build", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build or args.config:
        args.profile = bool(args.profile)
        child_main(args)
        return

    results, failures, profiles = [], [], {}
    for shape in args.models.split(","):
        folder = Path(args.workdir) / f"bench-{shape}"
        run_child(["--build", "--model", shape, "--folder", str(folder)])
        for name in args.configs.split(","):
            out = Path(tempfile.mkstemp(suffix=".json")[1])
            child = ["--config", name, "--model", shape, "--folder", str(folder), "--result", str(out),
                     "--steps", str(args.steps), "--warmup", str(args.warmup)]
            try:
                run_child(child)
                results.append(json.loads(out.read_text()))
            except subprocess.CalledProcessError as exc:
                failures.append({"config": name, "model": shape, "exit_code": exc.returncode})
            print(f"done {shape} {name}", flush=True)
            write_report(args.out, results, failures, profiles)
        # Profiled runs are separate children: the profiler's own overhead stays out of the table.
        for name in filter(None, args.profile.split(",")):
            out = Path(tempfile.mkstemp(suffix=".json")[1])
            try:
                run_child(["--config", name, "--model", shape, "--folder", str(folder), "--result", str(out),
                           "--steps", str(args.warmup + 5), "--warmup", str(args.warmup), "--profile", "1"])
                profile = json.loads(out.read_text())["profile"]
                profiles[f"{shape}/{name}"] = profile
                print(f"\n## profile {shape}/{name}: GPU busy {profile['gpu_busy_step_s']:.3f} s "
                      f"of {profile['wall_step_s']:.3f} s per step\n{json.dumps(profile['host_syncs'], indent=1)}\n"
                      f"{profile['cpu_table']}\n{json.dumps(profile['python_top'])}", flush=True)
            except subprocess.CalledProcessError as exc:
                failures.append({"config": name, "model": shape, "profile": True, "exit_code": exc.returncode})
            write_report(args.out, results, failures, profiles)
    report = write_report(args.out, results, failures, profiles)
    for shape in args.models.split(","):
        mine = [r for r in results if r["model"] == shape]
        report["ratios"][shape] = ratios(mine, "tutor", ["notebook", "stock-best", "stock-nonreentrant"], args.warmup)
        print(f"\n## {shape}\n" + markdown_table(mine))
        print(json.dumps(report["ratios"][shape], indent=1))
    print(peak_note())
    Path(args.out).write_text(json.dumps(report, indent=1))


def write_report(out: str, results: list[dict], failures: list[dict], profiles: dict) -> dict:
    """Written after every configuration, so a run cut short still leaves its rows."""
    report = {"device": results[0]["device"] if results else None, "versions": versions(), "results": results,
              "failures": failures, "ratios": {}, "profiles": profiles}
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(report, indent=1))
    return report


def versions() -> dict:
    from importlib.metadata import version

    return {name: version(name) for name in
            ("torch", "transformers", "peft", "trl", "bitsandbytes", "accelerate", "datasets")}


if __name__ == "__main__":
    main()
