"""Answer speed: tokens per second of a greedy answer, today's path against candidate speedups.

    python bench/generate_speed.py --model llama2-7b --out bench/results/generate_speed.json
    python bench/generate_speed.py --model tiny --tokens 8 --repeats 1 --out /tmp/g.json   # CPU smoke test

One process, one NF4 model (double quantization, bf16 compute on a GPU), loaded the way the
lab loads it for a train run (`tutor.engine.models.load_base`, training flags included). Each
variant answers the same prompt: a first call (what a learner waits for in a fresh job),
then `--repeats` timed calls (median and best). Every variant's tokens are checked against
plain `model.generate` (greedy) of the same model: `identical` and the first differing
position. A failing variant records its error and the others still run; the JSON is
rewritten after each variant, so a run cut short keeps what it measured.

Variants, in the order they run (base model, then the same model with a random-weight LoRA on
q/k/v/o); `decode_step_work` counts the module and operator calls of one decode step:
  generate        plain model.generate: the reference tokens, unstreamed
  lab             tutor.engine.generate.answer_tokens (generate_answer's core), token events
                  written to a file: what the lab runs
  graph           bench/graph_decode.py: static cache, the decode step replayed as a CUDA graph, streamed
  adapter-*       the same with the adapter on
  compare-graph2  base and tuned answers in one graph-replayed batch (graph_decode.adapter_rows)
  compare-batch2  both answers in one model.generate batch (peft's adapter_names per row)
  compare-lab     lab-compare today: base (adapter off), then tuned, one after the other
  static          model.generate with a static KV cache (with the adapter; transformers does not
                  compile a bitsandbytes 4-bit model on its own)
  static-compile  ... and the forward compiled (mode reduce-overhead: CUDA graphs), forced; only
                  started with COMPILE_NEEDS_S of the budget left
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
        self.last_rows: dict[str, list[list[int]]] = {}
        self.report = dict(device=_device_name(device), versions=_versions(), model=None, new_tokens=config.max_new_tokens,
                           prompt_tokens=int(self.inputs["input_ids"].shape[1]), repeats=repeats, variants={})

    def measure(self, name: str, answer, references: list[str]) -> None:
        """Time `answer()` (which returns token id rows) once cold and `repeats` times warm;
        compare each row with the reference of the same index."""
        if time.monotonic() > self.deadline:
            self.report["variants"][name] = {"skipped": "the time budget was spent"}
            return self.save()
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
            tokens = self.last_rows[name] = rows
            result = dict(first_call_s=round(first_call, 4), rows=len(tokens), new_tokens=sum(map(len, tokens)),
                          **summarize(seconds, sum(map(len, tokens))))
            if references:
                differences = [first_difference(self.references[ref], row) for ref, row in zip(references, tokens)]
                result.update(identical=all(d is None for d in differences), first_difference=differences)
            else:
                self.references[name] = tokens[0]
                result.update(identical=True, reference=True)
            self.report["variants"][name] = result
            print(f"{name:16s} {result['tokens_per_s_median']:8.2f} tok/s median, {result['tokens_per_s_best']:8.2f} best, "
                  f"first call {first_call:.2f} s, identical {result['identical']}", flush=True)
        except Exception as exc:  # one variant's failure must not lose the others
            self.report["variants"][name] = {"error": f"{type(exc).__name__}: {str(exc)[:800]}"}
            print(f"{name:16s} failed: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
        self.save()

    def save(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.report, indent=1))

    # --- the ways of answering -------------------------------------------------------------

    def generate(self, rows: int = 1, **kwargs):
        import torch

        inputs = {key: value.repeat(rows, 1) for key, value in self.inputs.items()}
        with torch.no_grad():
            output = self.model.generate(
                **inputs, max_new_tokens=self.config.max_new_tokens, repetition_penalty=self.config.repetition_penalty,
                do_sample=False, eos_token_id=self.tokenizer.eos_token_id, pad_token_id=self.tokenizer.pad_token_id,
                **kwargs)
        return _token_rows(output[:, inputs["input_ids"].shape[1]:], self.tokenizer.pad_token_id)

    def lab(self, stream: str = "base"):
        """The product's answer (tutor.engine.generate.answer_tokens, the core of
        generate_answer) with its `token` events written to a file, as the lab does."""
        from tutor.engine.events import EventWriter
        from tutor.engine.generate import answer_tokens

        with tempfile.TemporaryDirectory() as folder:
            events = EventWriter(Path(folder))
            output = answer_tokens(self.model, self.tokenizer, self.inputs, self.config,
                                   lambda text: events.emit("token", stream=stream, text=text))
            events.close()
        return _token_rows(output, self.tokenizer.pad_token_id)

    def graph(self, rows_on: list[bool] | None = None):
        """Batch 1 through bench/graph_decode.py, streamed; with `rows_on`, one row per entry,
        the adapter on where True."""
        from contextlib import nullcontext

        from bench.graph_decode import adapter_rows, static_greedy

        streamer = _quiet_streamer(self.tokenizer) if rows_on is None else None
        ids = self.inputs["input_ids"].repeat(len(rows_on or [0]), 1)
        with adapter_rows(self.model, rows_on) if rows_on else nullcontext():
            output = static_greedy(
                self.model, ids, self.config.max_new_tokens, self.config.repetition_penalty,
                self.tokenizer.eos_token_id, self.tokenizer.pad_token_id, graphs=self.device == "cuda",
                on_token=(lambda chosen: streamer.put(chosen.cpu())) if streamer else None)
        if streamer:
            streamer.end()
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


def _quiet_streamer(tokenizer):
    """A TextStreamer that does the lab's per-token work (decode, cut at word ends) and
    drops the text: the graph variant pays what streaming costs."""
    from transformers import TextStreamer

    class QuietStreamer(TextStreamer):
        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            pass

    return QuietStreamer(tokenizer, skip_prompt=False, skip_special_tokens=True)


def force_compile(model) -> None:
    """Let generate compile a bitsandbytes 4-bit model (transformers' quantizer says it
    cannot): static cache + torch.compile, mode reduce-overhead, the library's defaults."""
    quantizer = model.get_base_model().hf_quantizer if hasattr(model, "get_base_model") else model.hf_quantizer
    quantizer.__class__ = type("Compileable" + type(quantizer).__name__, (type(quantizer),),
                               {"is_compileable": property(lambda self: True)})


def load(model_name: str, workdir: Path):
    """(model, tokenizer, config, device): the base in NF4 as a lab train run loads it."""
    from tutor.engine import models
    from tutor.engine.config import RunConfig

    if model_name == "tiny":
        config = RunConfig(model="tiny", device="cpu")
        source = models.resolve_model("tiny")
    else:
        from bench.train_speed import build_model_folder, quantized_folder

        folder = workdir / f"bench-{model_name}"
        build_model_folder(model_name, folder)
        config = RunConfig(model=str(quantized_folder(folder)), device="cuda")
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
PLAN = [("generate", False, []), ("lab", False, ["generate"]), ("graph", False, ["generate"]),
        ("adapter-generate", True, []), ("adapter-graph", True, ["adapter-generate"]),
        ("compare-graph2", True, ["generate", "adapter-generate"]),
        ("compare-batch2", True, ["generate", "adapter-generate"]),
        ("adapter-lab", True, ["adapter-generate"]), ("compare-lab", True, ["generate", "adapter-generate"]),
        ("static", True, ["adapter-generate"]), ("static-compile", True, ["adapter-generate"])]
COMPILE_NEEDS_S = 150  # compiling a 7B forward takes minutes: started only with this much budget left


def run(bench: Bench, variants: list[str]) -> None:
    mixed = dict(adapter_names=["__base__", "default"])
    answers = {
        "generate": bench.generate, "lab": lambda: bench.lab("base"), "graph": bench.graph,
        "static": lambda: bench.generate(cache_implementation="static"),
        "adapter-generate": bench.generate, "adapter-graph": bench.graph, "adapter-lab": lambda: bench.lab("tuned"),
        "compare-graph2": lambda: bench.graph(rows_on=[False, True]),
        "compare-batch2": lambda: bench.generate(rows=2, **mixed),
        "compare-lab": lambda: _compare_lab(bench),
        "static-compile": lambda: bench.generate(cache_implementation="static"),
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
        if name == "static-compile":
            if bench.deadline - time.monotonic() < COMPILE_NEEDS_S:
                bench.report["variants"][name] = {"skipped": f"less than {COMPILE_NEEDS_S} s of the budget left"}
                continue
            force_compile(bench.model)
        bench.measure(name, answers[name], references)
        if name == "graph" and bench.device == "cuda":
            _check_graph_against_eager(bench)
    if "lab" in variants and "generate" in bench.references:
        bench.report["lab_first_call_identical"] = first_difference(bench.references["generate"], early[0]) is None
    if {"generate", "adapter-generate"} <= set(bench.references):  # else the adapter checks prove nothing
        bench.report["adapter_changes_answer"] = bench.references["generate"] != bench.references["adapter-generate"]
    bench.save()


def _check_graph_against_eager(bench: Bench) -> None:
    """The same static-cache loop without the graph, once: tells a recording fault from
    the static cache's own numerics when `graph` and `generate` part."""
    from bench.graph_decode import static_greedy

    try:
        eager = static_greedy(bench.model, bench.inputs["input_ids"], bench.config.max_new_tokens,
                              bench.config.repetition_penalty, bench.tokenizer.eos_token_id,
                              bench.tokenizer.pad_token_id, graphs=False)
        eager_rows = _token_rows(eager, bench.tokenizer.pad_token_id)
        result = dict(graph_vs_eager_first_difference=first_difference(eager_rows[0], bench.last_rows["graph"][0]),
                      eager_vs_generate_first_difference=first_difference(bench.references["generate"], eager_rows[0]))
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    bench.report["graph_check"] = result
    print(f"graph check: {result}", flush=True)


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
    parser.add_argument("--variants", default=",".join(name for name, _, _ in PLAN))
    parser.add_argument("--tokens", type=int, default=50, help="new tokens per answer")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget-s", type=float, default=280,
                        help="seconds from start (model build and load included); variants not started by then are skipped")
    parser.add_argument("--out", default="bench/results/generate_speed.json")
    parser.add_argument("--workdir", default=tempfile.gettempdir())
    args = parser.parse_args(argv)
    unknown = set(args.variants.split(",")) - {name for name, _, _ in PLAN}
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")

    started = time.monotonic()
    model, tokenizer, config, device = load(args.model, Path(args.workdir))
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
