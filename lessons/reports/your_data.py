"""The your-data lesson's views: one training row coloured by which tokens count toward the
loss, and the pad = eos trap checked on the notebook's collator and trl's."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from tutor.engine.errors import LabError
from tutor.engine.sft_data import SHAPE_EXAMPLES, data_report, eos_kept_by_collators, training_tokenizer
from tutor.render import error_text
from tutor.render.data_report import data_report_renderable

MAX_LENGTH = 512
DEFAULT_SOURCE = str(SHAPE_EXAMPLES["messages"])


def report_or_error(source: str, model: str = "tiny", max_length: int = MAX_LENGTH,
                    text_column: str | None = None) -> RenderableType:
    """One row of `source` as the trainer sees it, or what is wrong with the file."""
    try:
        return data_report_renderable(data_report(source, model, max_length, text_column=text_column))
    except LabError as exc:
        return error_text(exc)


def token_mask_report() -> RenderableType:
    return report_or_error(DEFAULT_SOURCE)


def eos_table(kept: dict[str, bool]) -> Table:
    table = Table("collator, with pad_token = eos_token", "the final EOS", title="Does the model learn to stop?",
                  title_justify="left")
    for collator, counted in kept.items():
        table.add_row(collator, Text("counts", style="bold green") if counted
                      else Text("masked (-100): never learned", style="bold red"))
    return table


def pad_eos_report() -> Table:
    """The same text row through the notebook's collator and trl's, with pad = eos."""
    return eos_table(eos_kept_by_collators(training_tokenizer("tiny")))


REPORTS = {"TokenMaskPanel": token_mask_report, "PadEosPanel": pad_eos_report}
