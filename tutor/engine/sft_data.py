"""Your own training data: its shape, what is wrong with it, and which tokens the loss counts.

trl's SFTTrainer (1.16) accepts three shapes of rows, and each decides what the model learns:

- `text`: one string per row; every token counts, so the model learns to continue that style;
- `prompt` + `completion`: only the completion counts (`completion_only_loss`, on by default
  for this shape); the prompt is context;
- `messages`: a conversation rendered by a chat template; with `assistant_only_loss=True`
  only the assistant's turns count, which needs `{% generation %}` markers in the template.

`tokenize_row` reproduces what `SFTTrainer._prepare_dataset` does to one row (add EOS to
text and completions, tokenize, mask) so a learner sees the masks before training; the tests
hold it against trl's own prepared labels and collator output.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tutor.engine.config import BUNDLED_DATASET
from tutor.engine.errors import LabError, first_line
from tutor.engine.data import BUNDLED_FILE
from tutor.engine.tiny import DATA_DIR

SHAPES = ("text", "prompt-completion", "messages")
ROLES = ("system", "user", "assistant")
FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
CHATML_TOKENS = ["<|im_start|>", "<|im_end|>"]
SHAPE_EXAMPLES = {shape: DATA_DIR / "shapes" / f"{shape.replace('-', '_')}.jsonl" for shape in SHAPES}
LENGTH_SAMPLE = 2000  # rows tokenized to count lengths; a bigger file is sampled from its start


class DataError(LabError):
    hint = "Give a .jsonl, .csv or .parquet file, a hub dataset id, or 'bundled'."


def load_rows(source: str, text_column: str | None = None) -> list[dict]:
    """The rows of a local file, the bundled prompts, or a hub dataset's train split.

    `text_column` names a column to train on as plain text (the bundled prompts' `prompt`,
    the way the lab and the QLoRA notebook use it).
    """
    source = source.strip()
    if source == BUNDLED_DATASET:
        source, text_column = str(BUNDLED_FILE), "prompt"
    rows = _read(source)
    if text_column and rows:
        if text_column not in rows[0]:
            raise DataError(f"no column {text_column!r} (found: {', '.join(rows[0])})")
        rows = [{"text": row[text_column]} for row in rows]
    return rows


def _read(source: str) -> list[dict]:
    from datasets import disable_progress_bars, load_dataset

    disable_progress_bars()  # a report on stdout, not loading bars on stderr
    path = Path(source).expanduser()
    if path.suffix.lower() in FILE_BUILDERS or path.exists():
        if path.is_dir():
            raise DataError(f"data file {path} is a folder, not a file")
        if not path.is_file():
            raise DataError(f"data file {path} does not exist")
        builder = FILE_BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise DataError(f"cannot read {path.name}: not .jsonl, .json, .csv or .parquet")
        if path.stat().st_size == 0:
            raise DataError(f"data file {path} is empty")
        try:
            return list(load_dataset(builder, data_files=str(path), split="train"))
        except Exception as exc:  # datasets raises many types for malformed files
            raise DataError(f"cannot read {path.name}: {first_line(exc)}") from exc
    try:
        return list(load_dataset(source, split="train"))
    except Exception as exc:
        raise DataError(
            f"cannot load hub dataset {source!r} ({type(exc).__name__})",
            "Without hub access, save the rows as a local .jsonl file and give its path.",
        ) from exc


def detect_shape(columns: list[str]) -> str:
    """The trl shape a set of columns is read as, in trl's order of precedence."""
    if "messages" in columns:
        return "messages"
    if "prompt" in columns and "completion" in columns:
        return "prompt-completion"
    if "text" in columns:
        return "text"
    raise DataError(
        f"no column trl can train on (found: {', '.join(columns) or 'none'})",
        "Name the columns text, or prompt and completion, or messages (a list of {role, content}).",
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
    fields = ("prompt", "completion") if shape == "prompt-completion" else ("text",)
    problems = []
    for name in fields:
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


def validate(rows: list[dict]) -> Validation:
    if not rows:
        raise DataError("the data has no rows")
    shape = detect_shape(list(rows[0]))
    problems: dict[str, list[int]] = defaultdict(list)
    for number, row in enumerate(rows, start=1):
        for problem in row_problems(row, shape):
            problems[problem].append(number)
    return Validation(shape, len(rows), {p: tuple(r) for p, r in problems.items()})


@dataclass(frozen=True)
class TrainingTokenizer:
    tokenizer: object
    chat_template: str  # with {% generation %} markers
    label: str
    note: str


def training_tokenizer(model: str = "tiny") -> TrainingTokenizer:
    """A tokenizer with a chat template trl can mask assistant turns with.

    `tiny` (built on this machine) and tokenizers without a template get the Qwen2.5
    training template that trl ships (ChatML with `{% generation %}` markers), with the two
    ChatML tokens added; a known template is swapped for trl's training variant of it.
    """
    from transformers import AutoTokenizer
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers, qwen2_5_training_chat_template

    from tutor.engine.presets import get_preset
    from tutor.engine.tiny import ensure_tiny

    preset = get_preset(model)
    if preset and preset.teaching:
        source, label = ensure_tiny(), preset.name
    else:
        source, label = (preset.hub_id if preset else model), model
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise DataError(
            f"the tokenizer of {model!r} is not on this machine",
            "Use --model tiny (built locally), a local model folder, or download the model once with the lab.",
        ) from exc
    template = tokenizer.chat_template
    if not template:
        tokenizer.add_special_tokens({"additional_special_tokens": CHATML_TOKENS})
        note = "no chat template of its own: Qwen2.5's ChatML training template from trl"
        return TrainingTokenizer(tokenizer, qwen2_5_training_chat_template, label, note)
    if has_generation_markers(template):
        return TrainingTokenizer(tokenizer, template, label, "its own chat template")
    try:
        return TrainingTokenizer(tokenizer, get_training_chat_template(tokenizer), label,
                                 "its chat template, in trl's training variant")
    except ValueError:  # fine for text rows; conversations need the markers (tokenize_row says so)
        return TrainingTokenizer(tokenizer, template, label, "its chat template, without {% generation %} markers")


@dataclass(frozen=True)
class TokenizedRow:
    ids: tuple[int, ...]
    counted: tuple[bool, ...]  # True where the token's label is kept (counts toward the loss)

    @property
    def counted_tokens(self) -> int:
        return sum(self.counted)


def _with_eos(text: str, eos: str) -> str:
    return text if text.endswith(eos) else text + eos


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def tokenize_row(tok: TrainingTokenizer, row: dict, shape: str) -> TokenizedRow:
    """Token ids and loss mask of one row, as SFTTrainer prepares it (trl 1.16 defaults, plus
    assistant_only_loss=True for conversations)."""
    from trl.chat_template_utils import has_generation_markers

    tokenizer, template = tok.tokenizer, tok.chat_template
    if shape == "messages" and not has_generation_markers(template):
        raise DataError(f"{tok.label}'s chat template has no {{% generation %}} markers and trl cannot patch it",
                        "Add the markers around the assistant's turn, or train on prompt/completion rows.")
    if shape == "messages":
        out = tokenizer.apply_chat_template(row["messages"], chat_template=template, tokenize=True,
                                            return_dict=True, return_assistant_tokens_mask=True)
        return TokenizedRow(tuple(out["input_ids"]), tuple(bool(b) for b in out["assistant_masks"]))
    if shape == "text":
        ids = tokenizer(_with_eos(row["text"], tokenizer.eos_token))["input_ids"]
        return TokenizedRow(tuple(ids), (True,) * len(ids))
    prompt, completion = row["prompt"], row["completion"]
    if isinstance(prompt, list):  # conversational prompt/completion: EOS comes from the template
        prompt_ids = tokenizer.apply_chat_template(prompt, chat_template=template, tokenize=True,
                                                   return_dict=True, add_generation_prompt=True)["input_ids"]
        ids = tokenizer.apply_chat_template(prompt + completion, chat_template=template, tokenize=True,
                                            return_dict=True)["input_ids"]
    else:
        prompt_ids = tokenizer(prompt)["input_ids"]
        ids = tokenizer(prompt + _with_eos(completion, tokenizer.eos_token))["input_ids"]
    start = _common_prefix(prompt_ids, ids)
    return TokenizedRow(tuple(ids), tuple(i >= start for i in range(len(ids))))


def token_pieces(tok: TrainingTokenizer, row: TokenizedRow) -> list[tuple[str, bool]]:
    """(text of each token, counted?) for colouring. A character split over several byte-level
    tokens is shown once, on its last token, instead of as replacement characters."""
    pieces, pending = [], []
    for token_id, counted in zip(row.ids, row.counted):
        pending.append(token_id)
        text = tok.tokenizer.decode(pending)
        if text.endswith("\ufffd") and len(pending) < 4:  # UTF-8 needs at most 4 bytes
            continue
        pieces.append((text, counted))
        pending = []
    return pieces


@dataclass(frozen=True)
class DataReport:
    source: str
    validation: Validation
    tokenizer_label: str
    template_note: str
    max_length: int
    lengths_over: int  # rows tokenized for lengths (the first LENGTH_SAMPLE valid rows)
    longest: int
    over_long: int  # rows longer than max_length: trl cuts them (keep_start)
    dropped: int  # over-long rows whose counted tokens all lie past max_length: trl drops them
    example_number: int
    example: list[tuple[str, bool]] = field(default_factory=list)
    counted_share: float = 0.0  # of all tokens in the sampled rows

    @property
    def ok(self) -> bool:
        return not self.validation.problems and self.dropped == 0


def data_report(source: str, model: str = "tiny", max_length: int = 512, example: int = 1,
                text_column: str | None = None) -> DataReport:
    """Validate `source`, tokenize it for `model` as SFTTrainer would, and colour one row."""
    if max_length < 1:
        raise DataError(f"max length must be 1 or more, got {max_length}", "Give a number of tokens, e.g. 512.")
    rows = load_rows(source, text_column)
    validation = validate(rows)
    bad = {r for rs in validation.problems.values() for r in rs}
    good = [(n, row) for n, row in enumerate(rows, start=1) if n not in bad]
    if not good:
        raise DataError(f"none of the {len(rows)} rows can be trained on", "; ".join(validation.lines()[:2]))
    tok = training_tokenizer(model)
    sample = [(n, tokenize_row(tok, row, validation.shape)) for n, row in good[:LENGTH_SAMPLE]]
    over = [t for _, t in sample if len(t.ids) > max_length]
    shown_number, shown = next(((n, t) for n, t in sample if n >= example), sample[0])
    return DataReport(
        source=source,
        validation=validation,
        tokenizer_label=tok.label,
        template_note=tok.note,
        max_length=max_length,
        lengths_over=len(sample),
        longest=max(len(t.ids) for _, t in sample),
        over_long=len(over),
        dropped=sum(1 for t in over if not any(t.counted[:max_length])),
        example_number=shown_number,
        example=token_pieces(tok, shown),
        counted_share=sum(t.counted_tokens for _, t in sample) / sum(len(t.ids) for _, t in sample),
    )


def eos_kept_by_collators(tok: TrainingTokenizer, text: str = "The end.") -> dict[str, bool]:
    """Does the EOS that ends a text row keep its label, with pad = eos as the notebook sets it?

    transformers' DataCollatorForLanguageModeling (the notebook's) sets every label equal to
    pad_token_id to -100, the real EOS included; trl's own collator pads labels with -100 and
    leaves the tokens alone.
    """
    import copy

    from transformers import DataCollatorForLanguageModeling
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling as TrlCollator

    tokenizer = copy.deepcopy(tok.tokenizer)
    tokenizer.pad_token = tokenizer.eos_token
    ids = list(tokenize_row(TrainingTokenizer(tokenizer, tok.chat_template, tok.label, tok.note),
                            {"text": text}, "text").ids)
    notebook = DataCollatorForLanguageModeling(tokenizer, mlm=False)([{"input_ids": ids}])
    trl = TrlCollator(pad_token_id=tokenizer.pad_token_id)([{"input_ids": ids}])
    return {
        "transformers DataCollatorForLanguageModeling (the notebook's)": bool(notebook["labels"][0, -1] != -100),
        "trl 1.16 SFTTrainer's collator": bool(trl["labels"][0, -1] != -100),
    }
