"""`qlora-tutor fetch MODEL...`: download models ahead of a workshop, sizes shown first."""

from __future__ import annotations

import argparse

from tutor.commands.errors import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "fetch", help="download models (presets or hub ids) into the Hugging Face cache",
        description="Download each model's weights, config and tokenizer into the Hugging Face cache, after "
                    "showing the total size and checking free disk. Run it before a workshop.")
    parser.add_argument("models", nargs="+", metavar="MODEL", help="a preset (bloom-7b1, ...) or a hub id")
    parser.add_argument("--yes", action="store_true", help="do not ask before downloading")


def run(args: argparse.Namespace) -> int:
    from tutor.engine.doctor import hf_cache_dir
    from tutor.engine.errors import LabError
    from tutor.engine.fetch import check_disk, download, plan_fetch

    try:
        plans = [plan_fetch(name) for name in args.models]
        for plan in plans:
            print(f"{plan.repo}: {len(plan.files)} files, {plan.total_bytes / 1e9:.2f} GB")
        needed, free = check_disk(plans, hf_cache_dir())
        print(f"in all {needed / 1e9:.2f} GB into {hf_cache_dir()} ({free / 1e9:.1f} GB free)")
        if not args.yes and input("Download? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing downloaded")
            return 1
        for plan in plans:
            print(f"{plan.repo} -> {download(plan)}")
    except LabError as exc:
        raise CommandError(f"{exc}. {exc.hint}", code=1) from None
    except EOFError:
        raise CommandError("no answer to the question (no terminal): pass --yes to download", code=1) from None
    return 0
