"""The run config: one dataclass whose defaults are the QLoRA notebook's recipe (lesson 1 names it).

It is flat (one attribute per form field) so a screen can bind inputs to attributes and show
`validate()`'s errors next to the right field; on disk it is TOML grouped into sections.
Validation is cheap and runs before anything heavy loads.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from tutor.engine.errors import LabError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_PROMPT = "I want you to act as a motivation coach."
BUNDLED_DATASET = "bundled"
QUANT_TYPES = ("nf4", "fp4")
COMPUTE_DTYPES = ("bf16", "fp16", "fp32")
LORA_BIASES = ("none", "all", "lora_only")
DEVICES = ("auto", "cpu", "cuda")
OPTIMIZERS = ("auto", "adamw_torch", "adamw_torch_fused", "paged_adamw_8bit", "paged_adamw_32bit", "adamw_8bit")
SPEEDS = ("auto", "packed", "padded")
LR_SCHEDULERS = ("linear", "constant", "cosine")
RECIPES = ("notebook", "paper", "fast", "overfit")
# Values renamed since earlier versions: run folders, config files and flags that still hold
# the old ones keep working (`current_value`). Both were once called "seed", which now means
# only the random seed.
RENAMED_VALUES = {"recipe": {"seed": "notebook"}, "speed": {"seed": "padded"}}
# Upper bounds that catch a typo before anything loads; none limits a run that makes sense.
# The rank is checked again against the model's own weights once it is loaded
# (`presets.check_rank`); the longest context among the presets is 131072 tokens.
MAX_LORA_R = 65536
MAX_EPOCHS = 1000
MAX_BATCH = 65536
MAX_LENGTH = 131072
MAX_GPUS = 64  # eight 8-GPU nodes; this tutor launches on one machine, so far fewer in practice


class ConfigError(LabError):
    hint = "Fix the fields listed above and try again."

    def __init__(self, errors: list["FieldError"]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


def _section(name: str, default: Any, help_: str) -> Any:
    return field(default=default, metadata={"section": name, "help": help_})


@dataclass
class RunConfig:
    """Everything a lab run needs. `metadata["help"]` is one line a form can show."""

    # [recipe]
    recipe: str = _section(
        "recipe", "notebook", "notebook, paper, fast or overfit: sets the LoRA and training fields below"
    )
    # [model]
    model: str = _section("model", "tiny", "preset name, hub id, or local folder")
    target_modules: str = _section(
        "model", "auto", "auto (from the architecture), all-linear, or names: q_proj,v_proj"
    )
    device: str = _section("model", "auto", "auto, cpu or cuda")
    # [quantization]
    load_in_4bit: bool = _section("quantization", True, "load the base weights in 4 bits")
    quant_type: str = _section("quantization", "nf4", "nf4 (NormalFloat) or fp4")
    double_quant: bool = _section("quantization", True, "quantize the quantization constants too")
    compute_dtype: str = _section(
        "quantization", "bf16", "bf16, fp16 or fp32; bf16 falls back to fp16 on GPUs without it, fp32 on CPU"
    )
    # [lora]
    lora_r: int = _section("lora", 16, "rank of the update B·A")
    lora_alpha: float = _section("lora", 16, "scale of the update (alpha / r)")
    lora_dropout: float = _section("lora", 0.05, "dropout on the adapter's input, 0 to 1")
    lora_bias: str = _section("lora", "none", "none, all or lora_only")
    # [training]
    learning_rate: float = _section("training", 2e-4, "optimizer step size")
    epochs: float = _section("training", 5, "passes over the samples")
    batch_size: int | str = _section(
        "training", "auto", "samples per step, or auto (GPU: 8, halved on out-of-memory; CPU: 4)"
    )
    max_length: int = _section("training", 256, "tokens per sample, longer ones are cut")
    gradient_checkpointing: bool = _section(
        "training", True, "recompute activations in backward: less memory, slower"
    )
    optim: str = _section("training", "auto",
                          "auto: adamw_8bit on a GPU with speed packed, paged_adamw_8bit with speed padded, "
                          "adamw_torch on CPU")
    speed: str = _section(
        "training", "auto",
        "packed: whole documents packed into rows, each masked from the others, and on a GPU "
        "fused 4-bit LoRA layers, Liger kernels, attention without cuDNN, unpaged 8-bit AdamW, "
        "bf16 without autocast (faster, same loss); "
        "padded: trl's stock settings, each batch padded to its longest sample, as the notebook trains; "
        "auto: packed on a GPU, padded on CPU",
    )
    lr_scheduler: str = _section("training", "linear", "linear (to 0, the notebook's), constant or cosine")
    max_grad_norm: float = _section("training", 1.0, "gradients longer than this are scaled down to it")
    seed: int = _section("training", 42, "random seed for a repeatable run and the held-out split")
    gpus: int = _section("training", 1,
                         "GPUs to train on: above 1, accelerate launches one data-parallel process per GPU "
                         "(with device = cpu: that many CPU processes)")
    fsdp: bool = _section("training", False,
                          "FSDP-QLoRA: shard the 4-bit weights across the GPUs, for a model one GPU cannot hold")
    # [data]
    dataset: str = _section("data", BUNDLED_DATASET, "bundled, a hub dataset id, or a .jsonl/.csv/.parquet/.txt")
    text_column: str = _section("data", "prompt", "the column that holds the training text")
    num_samples: int = _section("data", 50, "use the first N rows")
    eval_fraction: float = _section(
        "data", 0.15, "share of the samples held out for evaluation (at least 5), 0 turns it off"
    )
    eval_steps: int = _section("data", 0, "also evaluate every N steps (0: only at each epoch end)")
    # [generation]
    prompt: str = _section("generation", DEFAULT_PROMPT, "what the model is asked before and after")
    max_new_tokens: int = _section("generation", 50, "length of each answer")
    repetition_penalty: float = _section(
        "generation", 1.5, "above 1 lowers every token already in the text, the prompt's own included"
    )
    sampling: bool = _section("generation", False, "off: greedy (always the likeliest token); on: sample")
    temperature: float = _section("generation", 0.7, "with sampling: below 1 sharper, above 1 wilder")
    adapter: str = _section("generation", "", "adapter folder for generate/compare (empty: base)")

    def validate(self) -> list[FieldError]:
        """Every problem at once, each tied to its field; empty when the config is usable."""
        errors: list[FieldError] = []

        def need(ok: bool, name: str, message: str) -> None:
            if not ok:
                errors.append(FieldError(name, message))

        for f in fields(self):
            value = getattr(self, f.name)
            expected = _expected_types(f.name)
            if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
                errors.append(FieldError(f.name, f"expected {_type_names(expected)}, got {value!r}"))
            elif isinstance(value, float) and not math.isfinite(value):
                errors.append(FieldError(f.name, f"must be a finite number, got {value}"))
        if errors:
            return errors
        need(bool(self.model.strip()), "model", "must not be empty")
        need(bool(self.target_module_spec()), "target_modules", "must name at least one module")
        need(self.device in DEVICES, "device", f"must be one of {', '.join(DEVICES)}")
        need(self.quant_type in QUANT_TYPES, "quant_type", f"must be one of {', '.join(QUANT_TYPES)}")
        need(self.compute_dtype in COMPUTE_DTYPES, "compute_dtype", f"must be one of {', '.join(COMPUTE_DTYPES)}")
        need(self.lora_r >= 1, "lora_r", "must be at least 1")
        need(self.lora_r <= MAX_LORA_R, "lora_r", f"must be at most {MAX_LORA_R}")
        need(self.lora_alpha > 0, "lora_alpha", "must be greater than 0")
        need(0 <= self.lora_dropout < 1, "lora_dropout", "must be in [0, 1)")
        need(self.lora_bias in LORA_BIASES, "lora_bias", f"must be one of {', '.join(LORA_BIASES)}")
        need(0 < self.learning_rate <= 1, "learning_rate", "must be in (0, 1]")
        need(0 < self.epochs <= MAX_EPOCHS, "epochs", f"must be greater than 0 and at most {MAX_EPOCHS}")
        need(
            self.batch_size == "auto" or (isinstance(self.batch_size, int) and 1 <= self.batch_size <= MAX_BATCH),
            "batch_size",
            f"must be auto or a whole number from 1 to {MAX_BATCH}",
        )
        need(8 <= self.max_length <= MAX_LENGTH, "max_length", f"must be between 8 and {MAX_LENGTH}")
        need(0 <= self.seed < 2**32, "seed", "must be between 0 and 2**32 - 1 (numpy's seed range)")
        need(1 <= self.gpus <= MAX_GPUS, "gpus", f"must be a whole number from 1 to {MAX_GPUS}")
        need(not self.fsdp or self.gpus > 1, "fsdp", "shards across GPUs: set gpus to 2 or more")
        need(self.optim in OPTIMIZERS, "optim", f"must be one of {', '.join(OPTIMIZERS)}")
        need(self.speed in SPEEDS, "speed", f"must be one of {', '.join(SPEEDS)}")
        need(self.recipe in RECIPES, "recipe", f"must be one of {', '.join(RECIPES)}")
        need(self.lr_scheduler in LR_SCHEDULERS, "lr_scheduler", f"must be one of {', '.join(LR_SCHEDULERS)}")
        need(self.max_grad_norm > 0, "max_grad_norm", "must be greater than 0")
        need(bool(self.dataset.strip()), "dataset", "must not be empty")
        need(bool(self.text_column.strip()), "text_column", "must not be empty")
        need(self.num_samples >= 1, "num_samples", "must be at least 1")
        need(0 <= self.eval_fraction < 1, "eval_fraction", "must be in [0, 1)")
        need(self.eval_steps >= 0, "eval_steps", "must be 0 or more")
        need(bool(self.prompt.strip()), "prompt", "must not be empty")
        need(1 <= self.max_new_tokens <= 4096, "max_new_tokens", "must be between 1 and 4096")
        need(self.repetition_penalty > 0, "repetition_penalty", "must be greater than 0")
        need(self.temperature > 0, "temperature", "must be greater than 0")
        return errors

    def check(self) -> "RunConfig":
        """Raise ConfigError listing every invalid field; return self so calls can chain."""
        errors = self.validate()
        if errors:
            raise ConfigError(errors)
        return self

    def target_module_spec(self) -> str | list[str]:
        """`auto` / `all-linear` as they are, otherwise the comma-separated names as a list."""
        spec = self.target_modules.strip()
        if spec in ("auto", "all-linear"):
            return spec
        return [name.strip() for name in spec.split(",") if name.strip()]

    # ---- TOML ---------------------------------------------------------------------------

    def to_toml(self) -> str:
        import tomli_w

        tables: dict[str, dict[str, Any]] = {}
        for f in fields(self):
            tables.setdefault(f.metadata["section"], {})[f.name] = getattr(self, f.name)
        return tomli_w.dumps(tables)

    def save(self, path: Path) -> None:
        Path(path).write_text(self.to_toml(), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any], notes: list[str] | None = None) -> "RunConfig":
        """Accept flat keys or `[section]` tables; unknown keys are an error, not ignored.
        Renamed values take their new names, each with a line appended to `notes`."""
        flat: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, dict) and key in SECTIONS:
                flat.update(value)
            else:
                flat[key] = value
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(flat) - known)
        if unknown:
            raise ConfigError([FieldError(name, "unknown setting") for name in unknown])
        for name in (n for n in RENAMED_VALUES if n in flat):
            flat[name], note = current_value(name, flat[name])
            if note and notes is not None:
                notes.append(note)
        names = flat.get("target_modules")
        if isinstance(names, list) and all(isinstance(name, str) for name in names):
            flat["target_modules"] = ",".join(names)  # any other list is refused by validate()
        for name in FLOAT_FIELDS:
            if isinstance(flat.get(name), int) and not isinstance(flat[name], bool):
                flat[name] = float(flat[name])
        return cls(**flat)

    @classmethod
    def from_toml(cls, text: str, notes: list[str] | None = None) -> "RunConfig":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise LabError(f"the config is not valid TOML: {exc}", "Check the file's syntax.") from None
        return cls.from_dict(data, notes)

    @classmethod
    def load(cls, path: Path, notes: list[str] | None = None) -> "RunConfig":
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise LabError(f"cannot read config {path}: {exc.strerror}", "Pass an existing .toml file.") from None
        except UnicodeDecodeError:
            raise LabError(f"config {path} is not a text file (not UTF-8)", "Pass a .toml file.") from None
        return cls.from_toml(text, notes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FLOAT_FIELDS = tuple(f.name for f in fields(RunConfig) if f.type == "float")
SECTIONS = tuple(dict.fromkeys(f.metadata["section"] for f in fields(RunConfig)))


def current_value(name: str, value: Any) -> tuple[Any, str | None]:
    """`value` under its current name, and a line saying so when it has been renamed."""
    new = RENAMED_VALUES.get(name, {}).get(value) if isinstance(value, str) else None
    if new is None:
        return value, None
    return new, f"{name} '{value}' is now called '{new}'"


def _expected_types(name: str) -> tuple[type, ...]:
    kind = {f.name: f.type for f in fields(RunConfig)}[name]
    return {
        "str": (str,),
        "bool": (bool,),
        "int": (int,),
        "float": (float, int),
        "int | str": (int, str),
    }[kind]


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)
