"""`qlora-tutor data`: check a training file and show which tokens the loss counts."""

from __future__ import annotations

import argparse

from tutor.commands.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "data", help="validate training data and colour the tokens that count toward the loss",
        description="Read a .jsonl, .csv or .parquet file, a hub dataset id, or 'bundled'; detect its trl shape "
        "(text, prompt/completion, messages); report empty or malformed rows and over-long samples; and show one "
        "row tokenized the way trl's SFTTrainer prepares it, counted tokens apart from masked ones.",
    )
    parser.add_argument("source", metavar="FILE|ID", help="a local .jsonl/.csv/.parquet file, a hub dataset id, or bundled")
    parser.add_argument("--model", default="tiny", metavar="PRESET|ID|PATH",
                        help="whose tokenizer and chat template to use (default: tiny, built on this machine)")
    parser.add_argument("--max-length", type=int, default=512, help="tokens per sample before trl cuts (default 512)")
    parser.add_argument("--row", type=int, default=1, help="which row to show tokenized (default: the first good one)")
    parser.add_argument("--text-column", metavar="NAME", help="train on this column as plain text")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tutor.engine.errors import LabError
    from tutor.engine.sft_data import data_report
    from tutor.render.data_report import data_report_renderable

    console = Console(highlight=False)
    try:
        report = data_report(args.source, args.model, args.max_length, args.row, text_column=args.text_column)
    except LabError as exc:
        raise CommandError(f"{exc}" + (f" ({exc.hint})" if exc.hint else "")) from None
    console.print(data_report_renderable(report, plain=not console.is_terminal))
    return 0 if report.ok else 1
