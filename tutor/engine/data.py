"""Training data: the bundled prompts, a hub dataset, or a local file, through `datasets`.

Whatever the source, the result is a `datasets.Dataset` with one column, `text` (the
contents of `config.text_column`), holding the first `config.num_samples` rows, as the QLoRA notebook does with fka/awesome-chatgpt-prompts.
`split_held_out` then keeps a share of those rows away from training, to measure on text the
adapter never saw.
"""

from __future__ import annotations

from pathlib import Path

from tutor.engine.config import BUNDLED_DATASET, RunConfig
from tutor.engine.errors import LabError, first_line

BUNDLED_FILE = Path(__file__).resolve().parents[1] / "data" / "prompts.jsonl"
TEXT_COLUMN = "text"
MIN_HELD_OUT = 5  # fewer samples make the eval loss one prompt's luck
LOCAL_FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".txt": "text"}


class DatasetError(LabError):
    hint = "Use --dataset bundled, a hub dataset id, or a local .jsonl, .csv or .txt file."


def load_training_data(config: RunConfig):
    """The rows to train on, reduced to the text column; raises DatasetError with the fix."""
    dataset, column = _load(config.dataset.strip(), config.text_column)
    if len(dataset) == 0:
        raise DatasetError(f"dataset {config.dataset} has no rows")
    if column not in dataset.column_names:
        raise DatasetError(
            f"dataset {config.dataset} has no column {column!r}",
            f"Set text_column (--text-column) to one of: {', '.join(dataset.column_names)}",
        )
    dataset = dataset.select(range(min(config.num_samples, len(dataset))))
    dataset = dataset.filter(lambda row: isinstance(row[column], str) and row[column].strip() != "")
    if len(dataset) == 0:
        raise DatasetError(f"column {column!r} of {config.dataset} holds no text in its first {config.num_samples} rows")
    # Always `text`: trl reads a column named `prompt` as the first half of prompt/completion
    # pairs, which would train on nothing here.
    dataset = dataset.select_columns([column])
    return dataset if column == TEXT_COLUMN else dataset.rename_column(column, TEXT_COLUMN)


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
    """(training texts, held-out texts) of a train run's config: the split it trained with."""
    train, held_out = split_held_out(load_training_data(config), config)
    return list(train[TEXT_COLUMN]), list(held_out[TEXT_COLUMN]) if held_out is not None else []


def _load(source: str, column: str):
    """(dataset, text column); plain .txt files have one row per line in column `text`."""
    from datasets import load_dataset

    if source == BUNDLED_DATASET:
        return load_dataset("json", data_files=str(BUNDLED_FILE), split="train"), column
    path = Path(source).expanduser()
    if path.suffix.lower() in LOCAL_FORMATS or path.exists():
        if path.is_dir():
            raise DatasetError(f"dataset {path} is a folder, not a file")
        if not path.is_file():
            raise DatasetError(f"dataset file {path} does not exist")
        builder = LOCAL_FORMATS.get(path.suffix.lower())
        if builder is None:
            raise DatasetError(f"cannot read {path.name}: unknown file type")
        if path.stat().st_size == 0:
            raise DatasetError(f"dataset file {path} is empty")
        try:
            dataset = load_dataset(builder, data_files=str(path), split="train")
        except Exception as exc:  # datasets raises many types for malformed files
            raise DatasetError(f"cannot read {path}: {first_line(exc)}") from exc
        return dataset, ("text" if builder == "text" else column)
    try:
        return load_dataset(source, split="train"), column
    except Exception as exc:
        raise DatasetError(
            f"cannot load hub dataset {source!r} ({type(exc).__name__}: {first_line(exc)})",
            "Without hub access use --dataset bundled (80 prompts in the same style) or a local file.",
        ) from exc
