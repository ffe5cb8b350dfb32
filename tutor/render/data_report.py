"""The data report as Rich renderables: problems, lengths, and one row's tokens coloured by
whether they count toward the loss (the way axolotl's `preprocess --debug` shows them)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text

from tutor.engine.sft_data import DataReport
from tutor.render import facts_table

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding `tutor/`

COUNTED = "bold green"
MASKED = "grey50"
SHADES = ("on grey11", "on grey19")  # alternate so token boundaries show
PLAIN_MASK = ("[[", "]]")  # marks masked runs when colour is off (a pipe, a file)
SHAPE_MEANING = {
    "text": "every token counts: the model learns to continue text like this",
    "prompt-completion": "only the completion counts (trl's completion_only_loss)",
    "messages": "only the assistant's turns count (trl's assistant_only_loss)",
}


def coloured_tokens(pieces: list[tuple[str, bool]], plain: bool = False) -> Text:
    """Counted tokens green, masked grey; in plain mode masked runs sit between [[ and ]]."""
    text = Text()
    masked_run = False
    for index, (piece, counted) in enumerate(pieces):
        shown = piece.replace("\n", "↵\n")
        if plain:
            if masked_run and counted:
                text.append(PLAIN_MASK[1])
            elif not masked_run and not counted:
                text.append(PLAIN_MASK[0])
            masked_run = not counted
            text.append(shown)
        else:
            text.append(shown, style=f"{COUNTED if counted else MASKED} {SHADES[index % 2]}")
    if plain and masked_run:
        text.append(PLAIN_MASK[1])
    return text


def legend(plain: bool = False) -> Text:
    if plain:
        return Text(f"tokens between {PLAIN_MASK[0]} {PLAIN_MASK[1]} are masked (label -100); the rest count")
    return Text.assemble(("counts toward the loss", COUNTED), "   ", ("masked (label -100)", MASKED))


def shown_source(source: str) -> str:
    """A file shipped with the tutor by its place in the package (`tutor/data/...`), the same
    on every machine; anything else as the learner gave it."""
    path = Path(source)
    if path.is_absolute() and path.resolve().is_relative_to(PACKAGE_ROOT / "tutor"):
        return str(path.resolve().relative_to(PACKAGE_ROOT))
    return source


def summary_table(report: DataReport) -> Table:
    validation = report.validation
    table = facts_table()
    table.add_row("data", shown_source(report.source))
    table.add_row("shape", f"{validation.shape}: {SHAPE_MEANING[validation.shape]}")
    table.add_row("rows", f"{validation.rows:,} ({validation.bad_rows:,} with problems)")
    table.add_row("tokenizer", f"{report.tokenizer_label}, {report.template_note}")
    lengths = report.lengths
    table.add_row("lengths", f"longest {lengths.longest:,} tokens over {lengths.rows:,} rows; "
                             f"{lengths.counted_share:.0%} of tokens count")
    cut = f"{lengths.over_long:,} rows longer than {report.max_length:,} tokens (trl keeps their start)"
    if lengths.dropped:
        cut += f"; {lengths.dropped:,} of them keep no counted token and are dropped"
    table.add_row("max length", cut)
    return table


def data_report_renderable(report: DataReport, plain: bool = False) -> Group:
    problems = [Text(f"! {line}", style="bold red") for line in report.validation.lines()]
    if report.validation.problems:
        verdict = Text("fix the rows listed above before training", style="bold red")
    elif report.lengths.dropped:
        verdict = Text("raise the max length or shorten the long rows: trl would drop them", style="bold red")
    else:
        verdict = Text("ready to train", style="bold green")
    return Group(
        summary_table(report),
        *problems,
        Text(),
        Text(f"row {report.example_number}, as the trainer sees it:", style="bold"),
        legend(plain),
        coloured_tokens(report.example, plain),
        Text(),
        verdict,
    )
