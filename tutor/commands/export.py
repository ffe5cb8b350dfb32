"""`qlora-tutor export`: merge a trained adapter into its base and save a 16-bit model."""

from __future__ import annotations

import argparse
from pathlib import Path

from tutor.commands.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="merge an adapter into its base model and save the result in 16-bit",
        description="Reload the adapter's base model in bf16 (never merge into 4-bit weights), merge "
        "W' = W + alpha/r * B A into it, and save an ordinary model folder. Disk space and memory are "
        "checked first; the command refuses with the numbers when they will not do.",
    )
    parser.add_argument("--adapter", required=True, type=Path, metavar="DIR",
                        help="the adapter folder (adapter_config.json + adapter_model.safetensors), "
                        "e.g. a run's adapter/ folder")
    parser.add_argument("--output", required=True, type=Path, metavar="DIR2",
                        help="a new or empty folder for the merged model")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from transformers.utils import logging as transformers_logging

    from tutor.engine.errors import LabError
    from tutor.units import decimal_bytes
    from tutor.engine.export import export_merged, plan_export

    transformers_logging.disable_progress_bar()  # its bars would bury the one line that matters
    console = Console(highlight=False)
    try:
        plan = plan_export(args.adapter, args.output)
        console.print(f"merging {args.adapter} into {plan.base} ({plan.base_params:,} parameters, "
                      f"{decimal_bytes(plan.weight_bytes)} in bf16)")
        output = export_merged(plan)
    except LabError as exc:
        raise CommandError(f"{exc}" + (f" ({exc.hint})" if exc.hint else "")) from None
    console.print(f"saved the merged model to {output}")
    return 0
