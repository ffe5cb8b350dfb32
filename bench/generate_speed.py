"""Answer speed: tokens per second of a greedy answer through the product's path, checked against model.generate.

    python bench/generate_speed.py --out bench/results/generate_speed.json    # GPU: 7B shape, random weights, NF4
    python bench/generate_speed.py --model tiny --device cpu --out /tmp/g.json   # CPU smoke test: 8 tokens, 1 repeat

The GPU run builds a Llama-2-7B-shaped model with random weights (bench/train_speed.py's
`build_model_folder`, quantized to NF4 once into --workdir) and loads it the way the lab loads
it for a train run (`tutor.engine.models.load_base`, training flags included; bf16 compute).
Each variant answers the same prompt: a first call (what a learner waits for in a fresh job),
then `--repeats` timed calls (median and best). Every variant's tokens are checked against
plain `model.generate` (greedy) of the same model: `identical` and the first differing
position; a product answer that fell back from the fast path records the note it gave
(`fallback_notes`). A failing variant records its error and the others still run; the JSON
is rewritten after each variant, so a run cut short keeps what it measured.

Variants, in the order they run (base model, then the same model with a random-weight LoRA on
q/k/v/o); `decode_step_work` counts the module and operator calls of one decode step:
  generate        plain model.generate: the reference tokens, unstreamed
  lab             tutor.engine.generate.answer_tokens, token events written to a file: what the
                  lab runs (on CUDA the static cache with CUDA graphs, on CPU model.generate)
  lab-generate    the same with decode="generate": the lab's path before the static cache
  static-eager    tutor.engine.static_decode's loop without graphs, unstreamed: on CUDA it tells a
                  recording fault from the static cache's own numerics; on CPU it checks the loop
  adapter-*       the same with the adapter on
  compare-lab     lab-compare: base (adapter off), then tuned, one after the other

On a GPU, the product is where it should be when `lab` and `adapter-lab` run at 30 tok/s or
more, every variant is `identical`, `adapter_changes_answer` is true and no variant has
`fallback_notes` (measured before: lab 31.5 and adapter-lab 16.2 tok/s;
bench/results/generate-speed-h200-2026-12-02.json, where the static loop was a prototype).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]


def first_difference(reference: list[int], tokens: list[int]) -> int | None:
    """The first position where `tokens` leaves `reference` (a shorter or longer answer
    differs at the shorter one's end), or None when they are the same."""
    for index, (want, got) in enumerate(zip(reference, tokens)):
        if want != got:
            return index
    return None if len(reference) == len(tokens) else min(len(reference), len(tokens))


def summarize(seconds: list[float], tokens: int) -> dict:
    """Median and best of the timed calls, in seconds and in new tokens per second (all rows)."""
    median, best = statistics.median(seconds), min(seconds)
    return dict(seconds=[round(s, 4) for s in seconds], median_s=round(median, 4), best_s=round(best, 4),
                tokens_per_s_median=round(tokens / median, 2), tokens_per_s_best=round(tokens / best, 2))


class Bench:
    """The loaded model, the prompt, the reference tokens, and the report being written."""

    def __init__(self, model, tokenizer, config, device: str, out: Path, repeats: int, deadline: float):
        import torch

        self.model, self.tokenizer, self.config, self.device = model, tokenizer, config, device
        self.inputs = tokenizer(config.prompt, return_tensors="pt").to(device)
        self.out, self.repeats, self.deadline = out, repeats, deadline
        self.sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        self.references: dict[str, list[int]] = {}
        self.notes: list[str] = []
        self.report = dict(device=_device_name(device), versions=_versions(), model=None, new_tokens=config.max_new_tokens,
                           prompt_tokens=int(self.inputs["input_ids"].shape[1]), repeats=repeats, variants={})

    def measure(self, name: str, answer, references: list[str]) -> None:
        """Time `answer()` (which returns token id rows) once cold and `repeats` times warm;
        compare each row with the reference of the same index."""
        if time.monotonic() > self.deadline:
            self.report["variants"][name] = {"skipped": "the time budget was spent"}
            return self.save()
        self.notes.clear()
        try:
            started = time.monotonic()
            rows = answer()
            self.sync()
            first_call = time.monotonic() - started
            seconds = []
            for _ in range(self.repeats):
                self.sync()
                started = time.monotonic()
                rows = answer()
                self.sync()
                seconds.append(time.monotonic() - started)
            result = dict(first_call_s=round(first_call, 4), rows=len(rows), new_tokens=sum(map(len, rows)),
                          **summarize(seconds, sum(map(len, rows))))
            if references:
                differences = [first_difference(self.references[ref], row) for ref, row in zip(references, rows)]
                result.update(identical=all(d is None for d in differences), first_difference=differences)
            else:
                self.references[name] = rows[0]
                result.update(identical=True, reference=True)
            if self.notes:
                result["fallback_notes"] = sorted(set(self.notes))
            self.report["variants"][name] = result
            print(f"{name:20s} {result['tokens_per_s_median']:8.2f} tok/s median, {result['tokens_per_s_best']:8.2f} best, "
                  f"first call {first_call:.2f} s, identical {result['identical']}", flush=True)
        except Exception as exc:  # one variant's failure must not lose the others
            self.report["variants"][name] = {"error": f"{type(exc).__name__}: {str(exc)[:800]}"}
            print(f"{name:20s} failed: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
        self.save()

    def save(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.report, indent=1))

    # --- the ways of answering -------------------------------------------------------------

    def generate(self):
        """Plain model.generate, greedy, as a user of transformers would call it."""
        import torch

        with torch.no_grad():
            output = self.model.generate(
                **self.inputs, max_new_tokens=self.config.max_new_tokens, repetition_penalty=self.config.repetition_penalty,
                do_sample=False, eos_token_id=self.tokenizer.eos_token_id, pad_token_id=self.tokenizer.pad_token_id)
        return _token_rows(output[:, self.inputs["input_ids"].shape[1]:], self.tokenizer.pad_token_id)

    def lab(self, stream: str = "base", decode: str = "auto"):
        """The product's answer (tutor.engine.generate.answer_tokens, the core of
        generate_answer) with its `token` events written to a file, as the lab does."""
        from tutor.engine.events import EventWriter
        from tutor.engine.generate import answer_tokens

        with tempfile.TemporaryDirectory() as folder:
            events = EventWriter(Path(folder))
            output = answer_tokens(self.model, self.tokenizer, self.inputs, self.config,
                                   lambda text: events.emit("token", stream=stream, text=text),
                                   on_note=self.notes.append, decode=decode)
            events.close()
        return _token_rows(output, self.tokenizer.pad_token_id)

    def static_eager(self):
        """tutor.engine.static_decode's loop without graphs, as the lab's settings give it."""
        import torch

        from tutor.engine import static_decode
        from tutor.engine.generate import decoding, inference_layers

        with inference_layers(self.model), torch.inference_mode():
            output = static_decode.greedy_answer(self.model, self.inputs["input_ids"],
                                                 decoding(self.config, self.tokenizer), graphs=False)
        return _token_rows(output, self.tokenizer.pad_token_id)


def decode_step_work(model, input_ids) -> dict:
    """What one decode step asks of the host: module calls and ATen operator calls (each at
    least one kernel launch on a GPU), counted over one token after a prefill."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from transformers import DynamicCache

    class CountOps(TorchDispatchMode):
        count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            CountOps.count += 1
            return func(*args, **(kwargs or {}))

    calls = []
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        model(input_ids=input_ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
        hooks = [module.register_forward_pre_hook(lambda *args: calls.append(1)) for module in model.modules()]
        try:
            with CountOps():
                model(input_ids=input_ids[:, -1:], past_key_values=cache, use_cache=True, logits_to_keep=1)
        finally:
            for hook in hooks:
                hook.remove()
    return dict(module_calls=len(calls), aten_ops=CountOps.count)


def _token_rows(output, pad_token_id: int) -> list[list[int]]:
    """Each row's ids up to its padding (a row that met EOS is padded to the longest)."""
    rows = []
    for row in output.tolist():
        while row and row[-1] == pad_token_id:
            row.pop()
        rows.append(row)
    return rows


def load(model_name: str, device: str, workdir: Path):
    """(model, tokenizer, config, device): the base in NF4 as a lab train run loads it;
    `device` auto: the tiny model on CPU, a 7B shape on CUDA."""
    from tutor.engine import models
    from tutor.engine.config import RunConfig

    if model_name == "tiny":
        config = RunConfig(model="tiny", device="cpu" if device == "auto" else device)
        source = models.resolve_model("tiny")
    else:
        from bench.train_speed import build_model_folder, quantized_folder

        folder = workdir / f"bench-{model_name}"
        build_model_folder(model_name, folder)
        config = RunConfig(model=str(quantized_folder(folder)), device="cuda" if device == "auto" else device)
        source = models.resolve_model(config.model)
    device = models.pick_device(config)
    dtype, _ = models.pick_compute_dtype(config, device)
    model, tokenizer = models.load_base(config, source, device, dtype, for_training=True)
    return model, tokenizer, config, device


def add_adapter(model):
    """A LoRA of the lab's default rank on q/k/v/o with random A and B, so the tuned answer
    differs from the base one, as after training."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=16, target_modules=LORA_TARGETS,
                                                  lora_dropout=0.05, init_lora_weights=False, task_type="CAUSAL_LM"))
    peft_model.eval()
    return peft_model


# Most telling first: a run cut by the time budget loses the least. (name, needs the adapter,
# the references its rows are checked against; none: it is a reference, always measured.)
PLAN = [("generate", False, []), ("lab", False, ["generate"]), ("lab-generate", False, ["generate"]),
        ("static-eager", False, ["generate"]),
        ("adapter-generate", True, []), ("adapter-lab", True, ["adapter-generate"]),
        ("adapter-lab-generate", True, ["adapter-generate"]), ("adapter-static-eager", True, ["adapter-generate"]),
        ("compare-lab", True, ["generate", "adapter-generate"])]


def run(bench: Bench, variants: list[str]) -> None:
    answers = {
        "generate": bench.generate, "lab": lambda: bench.lab("base"),
        "lab-generate": lambda: bench.lab("base", decode="generate"), "static-eager": bench.static_eager,
        "adapter-generate": bench.generate, "adapter-lab": lambda: bench.lab("tuned"),
        "adapter-lab-generate": lambda: bench.lab("tuned", decode="generate"),
        "adapter-static-eager": bench.static_eager, "compare-lab": lambda: _compare_lab(bench),
    }
    if "lab" in variants:  # what a learner waits for: the first answer of a fresh job
        started = time.monotonic()
        early = bench.lab("base")
        bench.sync()
        bench.report["lab_first_call_in_fresh_process_s"] = round(time.monotonic() - started, 4)
    _record_step_work(bench, "base")
    for name, needs_adapter, references in PLAN:
        if name not in variants and references:
            continue
        if needs_adapter and not hasattr(bench.model, "disable_adapter"):
            bench.model = add_adapter(bench.model)
            _record_step_work(bench, "adapter")
        bench.measure(name, answers[name], references)
    if "lab" in variants and "generate" in bench.references:
        bench.report["lab_first_call_identical"] = first_difference(bench.references["generate"], early[0]) is None
    if {"generate", "adapter-generate"} <= set(bench.references):  # else the adapter checks prove nothing
        bench.report["adapter_changes_answer"] = bench.references["generate"] != bench.references["adapter-generate"]
    bench.save()


def _record_step_work(bench: Bench, model_name: str) -> None:
    try:
        work = decode_step_work(bench.model, bench.inputs["input_ids"])
    except Exception as exc:
        work = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    bench.report.setdefault("decode_step_work", {})[model_name] = work
    print(f"one decode step, {model_name}: {work}", flush=True)


def _compare_lab(bench: Bench) -> list[list[int]]:
    with bench.model.disable_adapter():
        base = bench.lab("base")[0]
    return [base, bench.lab("tuned")[0]]


def _device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(0) if device == "cuda" else "cpu"


def _versions() -> dict:
    from bench.train_speed import versions

    return versions()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama2-7b", help="llama2-7b (random weights, GPU) or tiny (CPU smoke test)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="auto: CPU for tiny, CUDA for a 7B shape")
    parser.add_argument("--variants", default=",".join(name for name, _, _ in PLAN))
    parser.add_argument("--tokens", type=int, help="new tokens per answer (default 50; tiny: 8)")
    parser.add_argument("--repeats", type=int, help="timed calls per variant (default 3; tiny: 1)")
    parser.add_argument("--budget-s", type=float, default=280,
                        help="seconds from start (model build and load included); variants not started by then are skipped")
    parser.add_argument("--out", default="bench/results/generate_speed.json")
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    args = parser.parse_args(argv)
    smoke = args.model == "tiny"  # a check that everything runs and agrees, in about a minute on CPU
    args.tokens = args.tokens or (8 if smoke else 50)
    args.repeats = args.repeats or (1 if smoke else 3)
    unknown = set(args.variants.split(",")) - {name for name, _, _ in PLAN}
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")

    started = time.monotonic()
    model, tokenizer, config, device = load(args.model, args.device, Path(args.workdir))
    config.max_new_tokens = args.tokens
    bench = Bench(model, tokenizer, config, device, Path(args.out), args.repeats, started + args.budget_s)
    bench.report.update(model=args.model, load_s=round(time.monotonic() - started, 1))
    bench.save()
    run(bench, args.variants.split(","))
    print(json.dumps({name: {k: v for k, v in result.items() if k != "seconds"}
                      for name, result in bench.report["variants"].items()}, indent=1))
    return bench.report


if __name__ == "__main__":
    main()
