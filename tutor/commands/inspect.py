"""`qlora-tutor inspect`: what peft does to a model, counted, without the TUI."""

from __future__ import annotations

import argparse

from tutor.commands.errors import CommandError
from tutor.commands.train import whole_number


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect", help="show a model wrapped with LoRA: its tree, parameter counts and sizes",
        description="Wrap a model with LoRA and account for every parameter and byte. Presets and "
        "config folders are built on the meta device (no download, no memory); tiny loads its real "
        "weights in 4 bits. Every total is checked against peft's own count.",
    )
    parser.add_argument("--model", required=True, metavar="PRESET|ID|PATH",
                        help="a preset (e.g. tiny, llama-3.1-8b), a cached hub id, or a local model folder")
    parser.add_argument("--rank", "-r", required=True, type=whole_number, metavar="R", help="LoRA rank r (1 or more)")
    parser.add_argument("--alpha", type=whole_number, default=16, help="LoRA alpha; the update is scaled by alpha/r (default 16)")
    parser.add_argument("--targets", default="auto", metavar="auto|all-linear|a,b,c",
                        help="modules to adapt (default: auto, the attention projections)")
    parser.add_argument("--full-tree", action="store_true", help="list every decoder layer instead of folding identical ones")
    parser.add_argument("--check-merge", action="store_true",
                        help="also merge a random adapter into tiny and compare logits (fp32 and NF4 bases)")


def parse_targets(text: str) -> str | tuple[str, ...]:
    text = text.strip()
    if text in ("auto", "all-linear"):
        return text
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise CommandError("--targets: give auto, all-linear, or module names separated by commas")
    return names


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tutor.engine.anatomy import LoraSettings, check_merge, inspect_model, tiny_folder
    from tutor.engine.errors import LabError
    from tutor.render.anatomy import anatomy_report, merge_report

    if args.rank < 1:
        raise CommandError(f"--rank must be 1 or more, got {args.rank}")
    settings = LoraSettings(rank=args.rank, alpha=args.alpha, targets=parse_targets(args.targets))
    console = Console(highlight=False)
    try:
        anatomy = inspect_model(args.model, settings)
        console.print(anatomy_report(anatomy, fold_layers=not args.full_tree))
        if args.check_merge:
            console.print()
            console.print(merge_report(check_merge(tiny_folder(), settings)))
    except LabError as exc:
        raise CommandError(f"{exc}" + (f" ({exc.hint})" if exc.hint else "")) from None
    return 0 if anatomy.agrees_with_peft else 1
