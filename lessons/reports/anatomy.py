"""The adapter-anatomy lesson in print: the wrapped model's accounting, where the merge check
runs headless, and the newest lab run's adapter file weighed.

The tables and tree come from `tutor.render.anatomy`, which `qlora-tutor inspect` prints too.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text

from tutor.engine.anatomy import LoraSettings, adapter_runs, check_adapter, inspect_model
from tutor.engine.errors import LabError
from tutor.render import error_text
from tutor.render.anatomy import adapter_file_report, anatomy_report

DEFAULT_MODEL = "llama-3.1-8b"
DEFAULT_RANK = 32
TRAINING_LESSON = "lab-train"


def no_run_text() -> Text:
    return Text(f"No finished lab run yet: the lesson '{TRAINING_LESSON}' trains an adapter "
                "(or run `qlora-tutor train`); come back here to weigh its file.", style="italic")


def model_report() -> RenderableType:
    """The default model wrapped at the default rank, on the meta device."""
    return anatomy_report(inspect_model(DEFAULT_MODEL, LoraSettings(rank=DEFAULT_RANK)))


def merge_note() -> RenderableType:
    """The merge check loads tiny three times: the app runs it on a button, `inspect` on a flag."""
    return Text("In the app, a button here merges a random r = 8 adapter into tiny and compares "
                "the logits; headless: `qlora-tutor inspect --model tiny --rank 8 --check-merge`.",
                style="italic")


def adapter_file_of_latest_run() -> RenderableType:
    runs = adapter_runs()
    if not runs:
        return no_run_text()
    try:
        return adapter_file_report(check_adapter(runs[0]))
    except LabError as exc:
        return error_text(exc)


REPORTS = {"AnatomyPanel": model_report, "MergePanel": merge_note, "AdapterFilePanel": adapter_file_of_latest_run}
