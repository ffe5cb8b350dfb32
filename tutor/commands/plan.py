"""`qlora-tutor plan`: will this QLoRA run fit this GPU, how big is its adapter, how fast is it."""

from __future__ import annotations

import argparse

from tutor.commands.errors import CommandError
from tutor.commands.inspect import parse_targets


def register(subparsers: argparse._SubParsersAction) -> None:
    from tutor.engine.planner import DEFAULT_OPTIMIZER, GPUS, OPTIMIZER_BYTES

    parser = subparsers.add_parser(
        "plan", help="predict peak GPU memory, adapter size and speed of a QLoRA run before starting it",
        description="Predict a run's peak GPU memory (with headroom), adapter size, trainable parameters and "
        "tokens/s from the model's config (built on the meta device) and this project's committed GPU "
        "measurements. With --measure, train 20 real steps on this machine's GPU and compare.",
    )
    parser.add_argument("--model", required=True, metavar="PRESET|ID|PATH", help="a preset, a cached hub id, or a folder")
    parser.add_argument("--gpu", default="t4", metavar="|".join([*GPUS, "this"]), help="the GPU to plan for (default t4)")
    parser.add_argument("--rank", "-r", type=int, default=16, help="LoRA rank r (default 16)")
    parser.add_argument("--alpha", type=int, default=32, help="LoRA alpha (default 32 = 2r)")
    parser.add_argument("--targets", default="auto", metavar="auto|all-linear|a,b,c", help="modules to adapt")
    parser.add_argument("--batch-size", type=int, default=4, help="rows per step (default 4)")
    parser.add_argument("--max-length", type=int, default=512, help="tokens per row (default 512)")
    parser.add_argument("--no-checkpointing", action="store_true", help="turn gradient checkpointing off")
    parser.add_argument("--optimizer", default=DEFAULT_OPTIMIZER, choices=list(OPTIMIZER_BYTES))
    parser.add_argument("--measure", action="store_true", help="run 20 real steps on this machine's GPU and compare")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tutor.engine.errors import LabError
    from tutor.engine.planner import PlanSettings, plan
    from tutor.render.plan_report import plan_renderable

    settings = PlanSettings(
        model=args.model, gpu=args.gpu, rank=args.rank, alpha=args.alpha, targets=parse_targets(args.targets),
        batch_size=args.batch_size, max_length=args.max_length, gradient_checkpointing=not args.no_checkpointing,
        optimizer=args.optimizer,
    )
    console = Console(highlight=False)
    try:
        predicted = plan(settings)
        console.print(plan_renderable(predicted))
        if args.measure:
            console.print()
            return measure_and_compare(console, settings)
    except LabError as exc:
        raise CommandError(f"{exc}" + (f" ({exc.hint})" if exc.hint else "")) from None
    return 0


def measure_and_compare(console, settings) -> int:
    """On a GPU: 20 steps of this plan against its prediction on this GPU. On a CPU: what it
    would measure, and the planner against the committed GPU measurements instead."""
    import dataclasses

    import torch

    from tutor.engine.planner import REFERENCE_FILE, Check, committed_checks, plan
    from tutor.render.plan_report import checks_table

    if not torch.cuda.is_available():
        console.print("No CUDA GPU here. On one, --measure trains 20 steps of this plan with random weights "
                      "(unless the model is on the machine) and compares peak memory and tokens/s with the "
                      "prediction. Meanwhile, the planner against this project's committed GPU runs:")
        checks = committed_checks()
        console.print(checks_table(checks, "planner vs committed H100 measurements (lab defaults)",
                                   f"bench/results/{REFERENCE_FILE}"))
        return 0 if all(c.within for c in checks) else 1
    from tutor.engine.training.plan_measure import measure

    here = plan(dataclasses.replace(settings, gpu="this"))
    measured = measure(settings, log=lambda line: console.print(line, style="dim"))
    check = Check(f"{here.model_label}, batch {settings.batch_size} x {settings.max_length}", here.peak,
                  measured["peak_allocated_bytes"], here.tokens_per_s, measured["tokens_per_s"])
    console.print(checks_table([check], f"predicted vs measured on {measured['device']} ({measured['steps']} steps)"))
    return 0 if check.within else 1
