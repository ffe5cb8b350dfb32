"""`qlora-tutor generate`: a model (optionally with a LoRA adapter) answers a prompt.

Runs the lab's `generate` job, or `compare` with --compare (the base and the adapter answer
the same prompt), in a child process, streaming the answer as it is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tutor.commands.errors import CommandError
from tutor.commands.train import add_config_options, add_job_options, config_from_args, start_and_follow

GENERATE_FIELDS = {
    "model", "adapter", "prompt", "max_new_tokens", "repetition_penalty", "device",
    "load_in_4bit", "quant_type", "double_quant", "compute_dtype", "seed", "sampling", "temperature",
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate", help="answer a prompt with a model, optionally with a trained adapter",
        description="Load the model (4-bit by default), add --adapter if given, and stream the answer.",
    )
    parser.add_argument("--compare", action="store_true", help="answer twice: base model, then with --adapter")
    add_job_options(parser)
    add_config_options(parser, only=GENERATE_FIELDS)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if config.adapter:  # the run is recorded under the adapter's base, never under another --model
        from tutor.engine.errors import LabError
        from tutor.engine.models import adapter_model_name

        try:
            config.model = adapter_model_name(Path(config.adapter).expanduser(), args.model)
        except LabError as exc:
            raise CommandError.from_lab(exc) from None
    return start_and_follow("compare" if args.compare else "generate", config, args)
