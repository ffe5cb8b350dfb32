"""Your own training data: which tokens the loss counts, shown before training.

tutor.engine.data reads the rows, detects their shape and lists their problems. trl's
SFTTrainer (1.16) accepts three shapes of rows, and each decides what the model learns:

- `text`: one string per row; every token counts, so the model learns to continue that style;
- `prompt` + `completion`: only the completion counts (`completion_only_loss`, on by default
  for this shape); the prompt is context;
- `messages`: a conversation rendered by a chat template; with `assistant_only_loss=True`
  only the assistant's turns count, which needs `{% generation %}` markers in the template.

`tokenize_row` reproduces what `SFTTrainer._prepare_dataset` does to one row (add EOS to
text and completions, tokenize, mask) so a learner sees the masks before training; the lab's
trainer takes its tokenizer and template from `with_training_template` too, and the tests
hold the masks against trl's own prepared labels and the lab trainer's batches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tutor.engine.config import BUNDLED_DATASET
from tutor.engine.data import (
    SHAPES, TEXT_COLUMN, DatasetError, Validation, data_shape, read_dataset, training_shape, validate,
)
from tutor.engine.tiny import DATA_DIR

CHATML_TOKENS = ["<|im_start|>", "<|im_end|>"]
SHAPE_EXAMPLES = {shape: DATA_DIR / "shapes" / f"{shape.replace('-', '_')}.jsonl" for shape in SHAPES}
LENGTH_SAMPLE = 2000  # rows tokenized to count lengths; a bigger file is sampled from its start


def load_rows(source: str, text_column: str | None = None) -> list[dict]:
    """The rows of a local file, the bundled prompts, or a hub dataset's train split.

    `text_column` names a column to train on as plain text; 'bundled' trains on its
    `prompt` column, the way the lab and the QLoRA notebook use it.
    """
    dataset = read_dataset(source)
    if source.strip() == BUNDLED_DATASET:
        text_column = "prompt"
    if text_column and len(dataset):
        _, column = training_shape(dataset.column_names, text_column)
        if column is not None:
            return [{TEXT_COLUMN: text} for text in dataset[column]]
    return list(dataset)


@dataclass(frozen=True)
class TrainingTokenizer:
    tokenizer: object
    chat_template: str  # with {% generation %} markers
    label: str
    note: str


def training_tokenizer(model: str = "tiny") -> TrainingTokenizer:
    """The tokenizer of `model` (tiny: the one built on this machine) with its training
    chat template (`with_training_template`)."""
    from transformers import AutoTokenizer

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
        raise DatasetError(
            f"the tokenizer of {model!r} is not on this machine",
            "Use --model tiny (built locally), a local model folder, or download the model once with the lab.",
        ) from exc
    return with_training_template(tokenizer, label)


def with_training_template(tokenizer, label: str) -> TrainingTokenizer:
    """`tokenizer` with a chat template trl can mask assistant turns with; the data report
    and the lab's trainer both get theirs here, so the masks shown are the masks trained.

    Tokenizers without a template (tiny's) get the Qwen2.5 training template that trl ships
    (ChatML with `{% generation %}` markers), with the two ChatML tokens added to `tokenizer`;
    a known template is swapped for trl's training variant of it.
    """
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers, qwen2_5_training_chat_template

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


def require_generation_markers(tok: TrainingTokenizer) -> None:
    """Masking all but the assistant's turns needs `{% generation %}` markers in the template."""
    from trl.chat_template_utils import has_generation_markers

    if not has_generation_markers(tok.chat_template):
        raise DatasetError(f"{tok.label}'s chat template has no {{% generation %}} markers and trl cannot patch it",
                           "Add the markers around the assistant's turn, or train on prompt/completion rows.")


def is_conversational(row: dict) -> bool:
    """Rendered through a chat template: a `messages` row, or prompt/completion as turns."""
    return "messages" in row or isinstance(row.get("prompt"), list)


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
    tokenizer, template = tok.tokenizer, tok.chat_template
    if shape == "messages":
        require_generation_markers(tok)
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
class Lengths:
    rows: int  # rows tokenized (at most LENGTH_SAMPLE, from the start)
    longest: int
    over_long: int  # rows longer than max_length: trl cuts them (keep_start)
    dropped: int  # over-long rows whose counted tokens all lie past max_length: trl drops them
    counted_share: float  # of all tokens in those rows

    def note(self, max_length: int) -> str | None:
        """One line for the train job's events; None when every row fits."""
        if not self.over_long:
            return None
        dropped = f"; {self.dropped} of them keep no counted token and are dropped" if self.dropped else ""
        return (f"{self.over_long} of {self.rows} samples are longer than max_length {max_length} tokens "
                f"(longest {self.longest}): trl keeps their first {max_length}{dropped}")


def measure_lengths(tokenized: list[TokenizedRow], max_length: int) -> Lengths:
    over = [t for t in tokenized if len(t.ids) > max_length]
    return Lengths(
        rows=len(tokenized),
        longest=max(len(t.ids) for t in tokenized),
        over_long=len(over),
        dropped=sum(1 for t in over if not any(t.counted[:max_length])),
        counted_share=sum(t.counted_tokens for t in tokenized) / sum(len(t.ids) for t in tokenized),
    )


def training_lengths(tok: TrainingTokenizer, dataset, max_length: int) -> Lengths:
    """The lengths of the rows a train job is about to train on, measured as the report does."""
    shape = data_shape(dataset)
    rows = dataset.select(range(min(len(dataset), LENGTH_SAMPLE)))
    return measure_lengths([tokenize_row(tok, row, shape) for row in rows], max_length)


@dataclass(frozen=True)
class DataReport:
    source: str
    validation: Validation
    tokenizer_label: str
    template_note: str
    max_length: int
    lengths: Lengths  # of the first LENGTH_SAMPLE valid rows
    example_number: int
    example: list[tuple[str, bool]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.validation.problems and self.lengths.dropped == 0


def data_report(source: str, model: str = "tiny", max_length: int = 512, example: int = 1,
                text_column: str | None = None) -> DataReport:
    """Validate `source`, tokenize it for `model` as SFTTrainer would, and colour one row."""
    if max_length < 1:
        raise DatasetError(f"max length must be 1 or more, got {max_length}", "Give a number of tokens, e.g. 512.")
    rows = load_rows(source, text_column)
    validation = validate(rows)
    bad = {r for rs in validation.problems.values() for r in rs}
    good = [(n, row) for n, row in enumerate(rows, start=1) if n not in bad]
    if not good:
        raise DatasetError(f"none of the {len(rows)} rows can be trained on", "; ".join(validation.lines()[:2]))
    tok = training_tokenizer(model)
    sample = [(n, tokenize_row(tok, row, validation.shape)) for n, row in good[:LENGTH_SAMPLE]]
    shown_number, shown = next(((n, t) for n, t in sample if n >= example), sample[0])
    return DataReport(
        source=source,
        validation=validation,
        tokenizer_label=tok.label,
        template_note=tok.note,
        max_length=max_length,
        lengths=measure_lengths([t for _, t in sample], max_length),
        example_number=shown_number,
        example=token_pieces(tok, shown),
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
