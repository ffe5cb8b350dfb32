"""Training data: one reader for every source, the trl shape of its rows, and their checks.

`read_dataset` reads the bundled prompts, a local file or a hub dataset through `datasets`;
the lab's training (`load_training_data`) and the data report (tutor.engine.sft_data) both
use it, so a file fails the same way in both. trl's SFTTrainer (1.16) reads three shapes of
rows: `text`, `prompt` + `completion`, and `messages` (a conversation); `detect_shape` says
which one a set of columns is, and `validate` lists the rows that cannot train.

The training dataset keeps the first `config.num_samples` rows in their shape, so trl masks
prompts and non-assistant turns as it would for any caller; plain text comes from
`config.text_column`, as the QLoRA notebook does with fka/awesome-chatgpt-prompts. `split_held_out`
then keeps a share of those rows away from training, to measure on data the adapter never saw.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tutor.engine.config import BUNDLED_DATASET, RunConfig
from tutor.engine.errors import LabError, first_line

BUNDLED_FILE = Path(__file__).resolve().parents[1] / "data" / "prompts.jsonl"
TEXT_COLUMN = "text"
MIN_HELD_OUT = 5  # fewer samples make the eval loss one prompt's luck
LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}
SHAPES = ("text", "prompt-completion", "messages")
SHAPE_COLUMNS = {"text": [TEXT_COLUMN], "prompt-completion": ["prompt", "completion"], "messages": ["messages"]}
ROLES = ("system", "user", "assistant")


class DatasetError(LabError):
    hint = "Give bundled, a hub dataset id, or a local .jsonl, .csv, .parquet or .txt file."


def read_dataset(source: str):
    """Every row of `source` as a `datasets.Dataset`: 'bundled', a local file (a .txt file
    has one row per non-blank line, in column `text`), or a hub dataset's train split."""
    from datasets import disable_progress_bars, load_dataset

    disable_progress_bars()  # reports and events, not loading bars on stderr
    source = source.strip()
    path = BUNDLED_FILE if source == BUNDLED_DATASET else Path(source).expanduser()
    if source == BUNDLED_DATASET or path.suffix.lower() in LOCAL_FORMATS or path.exists():
        if path.is_dir():
            raise DatasetError(f"dataset {path} is a folder, not a file")
        if not path.is_file():
            raise DatasetError(f"dataset file {path} does not exist")
        builder = LOCAL_FORMATS.get(path.suffix.lower())
        if builder is None:
            raise DatasetError(f"cannot read {path.name}: not .jsonl, .json, .csv, .parquet or .txt")
        if path.stat().st_size == 0:
            raise DatasetError(f"dataset file {path} is empty")
        try:
            dataset = load_dataset(builder, data_files=str(path), split="train")
        except Exception as exc:  # datasets raises many types for malformed files
            raise DatasetError(f"cannot read {path.name}: {first_line(exc)}") from exc
        return dataset.filter(lambda row: row[TEXT_COLUMN].strip() != "") if builder == "text" else dataset
    try:
        return load_dataset(source, split="train")
    except Exception as exc:
        raise DatasetError(
            f"cannot load hub dataset {source!r} ({type(exc).__name__}: {first_line(exc)})",
            "Without hub access use bundled (80 prompts in the notebook's style) or a local .jsonl, .csv or .parquet file.",
        ) from exc


def detect_shape(columns: list[str]) -> str:
    """The trl shape a set of columns is read as, in trl's order of precedence."""
    if "messages" in columns:
        return "messages"
    if "prompt" in columns and "completion" in columns:
        return "prompt-completion"
    if TEXT_COLUMN in columns:
        return "text"
    raise DatasetError(
        f"no column trl can train on (found: {', '.join(columns) or 'none'})",
        "Name the columns text, or prompt and completion, or messages (a list of {role, content}).",
    )


def training_shape(columns: list[str], text_column: str) -> tuple[str, str | None]:
    """(shape, the column to train on as text, or None for the other shapes).

    prompt/completion and messages columns win over `text_column`: its default, `prompt`,
    names the bundled prompts' text, which a file with a `completion` column means otherwise.
    """
    if "messages" in columns or {"prompt", "completion"} <= set(columns):
        return detect_shape(columns), None
    for column in (text_column, TEXT_COLUMN):
        if column in columns:
            return "text", column
    raise DatasetError(
        f"no column {text_column!r} to train on as text (found: {', '.join(columns)})",
        f"Set text_column (--text-column) to one of: {', '.join(columns)}; "
        "or name the columns prompt and completion, or messages.",
    )


def _message_problems(messages, field_name: str) -> list[str]:
    if not isinstance(messages, list) or not messages:
        return [f"'{field_name}' is not a non-empty list of messages"]
    problems = []
    for message in messages:
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            problems.append(f"a message in '{field_name}' lacks 'role' or 'content'")
        elif message["role"] not in ROLES:
            problems.append(f"a message in '{field_name}' has role {message['role']!r} (use {', '.join(ROLES)})")
        elif not isinstance(message["content"], str) or not message["content"].strip():
            problems.append(f"a {message['role']} message in '{field_name}' is empty")
    return problems


def row_problems(row: dict, shape: str) -> list[str]:
    """What keeps one row from training as `shape`; empty when it is fine."""
    if shape == "messages":
        problems = _message_problems(row.get("messages"), "messages")
        if not problems and not any(m["role"] == "assistant" for m in row["messages"]):
            problems.append("no assistant turn: nothing would count toward the loss")
        return problems
    problems = []
    for name in SHAPE_COLUMNS[shape]:
        value = row.get(name)
        if isinstance(value, list):
            problems += _message_problems(value, name)
        elif not isinstance(value, str) or not value.strip():
            problems.append(f"empty or missing '{name}'")
    return problems


@dataclass(frozen=True)
class Validation:
    shape: str
    rows: int
    problems: dict[str, tuple[int, ...]]  # problem -> 1-based row numbers that have it

    @property
    def bad_rows(self) -> int:
        return len({row for rows in self.problems.values() for row in rows})

    def lines(self) -> list[str]:
        """One line per problem: how many rows, and the first few to look at."""
        out = []
        for problem, rows in self.problems.items():
            first = ", ".join(str(r) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
            out.append(f"{len(rows)} row{'s' if len(rows) > 1 else ''}: {problem} (row {first})")
        return out


def validate(rows: list[dict], shape: str | None = None) -> Validation:
    """Every row's problems as `shape` (default: the shape of the first row's columns)."""
    if not rows:
        raise DatasetError("the data has no rows")
    shape = shape or detect_shape(list(rows[0]))
    problems: dict[str, list[int]] = defaultdict(list)
    for number, row in enumerate(rows, start=1):
        for problem in row_problems(row, shape):
            problems[problem].append(number)
    return Validation(shape, len(rows), {p: tuple(r) for p, r in problems.items()})


def load_training_data(config: RunConfig):
    """The first `num_samples` rows in their trl shape (columns SHAPE_COLUMNS[shape]);
    raises DatasetError, with the fix, when a row cannot train."""
    dataset = read_dataset(config.dataset)
    if len(dataset) == 0:
        raise DatasetError(f"dataset {config.dataset} has no rows")
    shape, column = training_shape(dataset.column_names, config.text_column)
    dataset = dataset.select(range(min(config.num_samples, len(dataset))))
    if column is not None:
        # Always `text`: trl reads a column named `prompt` as the first half of prompt/completion
        # pairs, which would train on nothing here.
        dataset = dataset.select_columns([column])
        if column != TEXT_COLUMN:
            dataset = dataset.rename_column(column, TEXT_COLUMN)
    dataset = dataset.select_columns(SHAPE_COLUMNS[shape])
    validation = validate(list(dataset), shape)
    if validation.problems:
        lines = validation.lines()
        more = f"; and {len(lines) - 1} more problem{'s' if len(lines) > 2 else ''}" if len(lines) > 1 else ""
        raise DatasetError(
            f"{validation.bad_rows} of the first {len(dataset)} rows of {config.dataset} cannot train "
            f"as {shape}: {lines[0]}{more}",
            f"Fix or remove those rows (qlora-tutor data {config.dataset} lists every problem).",
        )
    return dataset


def data_shape(dataset) -> str:
    """The shape of a dataset `load_training_data` returned. Rows already tokenized (the
    planner's measurement passes `input_ids`) count as text: trl trains on every token."""
    return "text" if "input_ids" in dataset.column_names else detect_shape(dataset.column_names)


def sample_text(row: dict) -> str:
    """A row as one plain text (a conversation's turns one after another), for the compare
    job's prompts and its count of answers in the training data's shape."""
    if "messages" in row:
        return "\n".join(message["content"] for message in row["messages"])
    if "completion" in row:
        return "".join(part if isinstance(part, str) else sample_text({"messages": part})
                       for part in (row["prompt"], row["completion"]))
    return row[TEXT_COLUMN]


def held_out_count(total: int, fraction: float) -> int:
    """How many of `total` samples `split_held_out` keeps for evaluation (0: none)."""
    return 0 if fraction == 0 else max(MIN_HELD_OUT, round(total * fraction))


def split_held_out(dataset, config: RunConfig):
    """(train, held_out): `config.eval_fraction` of the rows, at least MIN_HELD_OUT, drawn
    with `config.seed`, so the same config always holds out the same rows; held_out is None
    when eval_fraction is 0."""
    held = held_out_count(len(dataset), config.eval_fraction)
    if held == 0:
        return dataset, None
    if len(dataset) - held < MIN_HELD_OUT:
        raise DatasetError(
            f"{len(dataset)} samples are too few to hold {held} out for evaluation and still train",
            f"Use at least {held + MIN_HELD_OUT} samples (num_samples), or set eval_fraction to 0.",
        )
    parts = dataset.train_test_split(test_size=held, seed=config.seed, shuffle=True)
    return parts["train"], parts["test"]


def held_out_texts(config: RunConfig) -> tuple[list[str], list[str]]:
    """(training texts, held-out texts) of a train run's config: the split it trained with,
    each row as one text (`sample_text`)."""
    train, held_out = split_held_out(load_training_data(config), config)
    return [sample_text(row) for row in train], [sample_text(row) for row in held_out] if held_out is not None else []
