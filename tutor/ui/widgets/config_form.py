"""A form over RunConfig fields, filled with the QLoRA notebook's defaults, validated as you type.

The fields, their help lines and sections come from the RunConfig dataclass itself, and the
checks are RunConfig.validate(), so the form never disagrees with the engine. A bad value
gets a message under its field; the typed text stays, nothing else is touched.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import Field, fields
from pathlib import Path

from textual.app import ComposeResult
from rich.markup import escape
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Collapsible, Input, Select, Static, Switch

from tutor.engine import config as engine_config
from tutor.engine.config import RunConfig
from tutor.engine.gpu_queue import memory_cap, visible_gpus
from tutor.engine.presets import PRESETS
from tutor.engine.recipes import SETTINGS

CHOICES = {
    "device": engine_config.DEVICES,
    "quant_type": engine_config.QUANT_TYPES,
    "compute_dtype": engine_config.COMPUTE_DTYPES,
    "lora_bias": engine_config.LORA_BIASES,
    "optim": engine_config.OPTIMIZERS,
    "lr_scheduler": engine_config.LR_SCHEDULERS,
    "recipe": engine_config.RECIPES,
}
OPEN_SECTIONS = ("recipe", "model", "lora")
CONFIG_FIELDS: dict[str, Field] = {f.name: f for f in fields(RunConfig)}
MULTI_GPU_FIELDS = ("gpus", "fsdp")  # noise on a machine with one GPU or none


@functools.cache
def machine_gpu_count() -> int:
    """GPUs the tutor may use, asked of the driver once (no torch, no CUDA context here)."""
    return len(visible_gpus(memory_cap()))


def default_field_names() -> list[str]:
    """Every RunConfig field; the multi-GPU ones only where there are several GPUs."""
    several = machine_gpu_count() > 1
    return [name for name in CONFIG_FIELDS if several or name not in MULTI_GPU_FIELDS]


def preset_label(name: str) -> str:
    preset = PRESETS[name]
    about = preset.description
    if preset.teaching and "teaching model" not in about:
        about = f"teaching model: {about}"
    return f"{name}  ({about})"


def parse_value(name: str, text: str):
    """The typed text as the field's type; ValueError with a learner-facing message if not."""
    kind = CONFIG_FIELDS[name].type
    text = text.strip()
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError("expected a whole number") from None
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, such as the default {CONFIG_FIELDS[name].default:g}") from None
    if kind == "int | str":
        return int(text) if text.isdigit() else text
    return text


class ConfigForm(Vertical):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    class Changed(Message):
        """A field changed; `config` is what the form now holds, None while a field is bad."""

        def __init__(self, config: RunConfig | None) -> None:
            super().__init__()
            self.config = config

    def __init__(self, field_names: Sequence[str] | None = None, *, id: str | None = None, flat: bool = False) -> None:
        """`flat`: the fields one after the other, without collapsible sections."""
        super().__init__(id=id)
        self.field_names = list(field_names or default_field_names())
        self.flat = flat
        self.defaults = RunConfig()
        self._shown_errors: dict[str, str] = {}
        self._recipe_shown = self.defaults.recipe

    # -- building --------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        sections: dict[str, list[str]] = {}
        for name in self.field_names:
            sections.setdefault(CONFIG_FIELDS[name].metadata["section"], []).append(name)
        if self.flat or len(sections) == 1:
            for name in self.field_names:
                yield from self._field_row(name)
            return
        for section, names in sections.items():
            with Collapsible(title=section, collapsed=section not in OPEN_SECTIONS):
                for name in names:
                    yield from self._field_row(name)

    def _field_row(self, name: str) -> ComposeResult:
        help_ = CONFIG_FIELDS[name].metadata["help"]
        with Vertical(classes="field-row"):
            yield Static(f"[b]{name}[/b]  [dim]{escape(help_)}[/dim]", classes="field-name")
            yield from self._field_widgets(name)
            yield Static("", id=f"error-{name}", classes="field-error")

    def _field_widgets(self, name: str) -> ComposeResult:
        default = getattr(self.defaults, name)
        if name == "model":
            options = [(preset_label(p), p) for p in PRESETS]
            yield Select(options, value=default, allow_blank=False, id="field-model")
            yield Input(placeholder="…or a hub id / local folder (overrides the preset)", id="field-model-custom")
        elif name in CHOICES:
            yield Select([(c, c) for c in CHOICES[name]], value=default, allow_blank=False, id=f"field-{name}")
        elif isinstance(default, bool):
            yield Switch(value=default, id=f"field-{name}")
        else:
            yield Input(str(default), id=f"field-{name}")

    # -- reading ---------------------------------------------------------------------

    def read(self) -> RunConfig | None:
        """The config the form holds, or None after marking every bad field."""
        values, errors = {}, {}
        for name in self.field_names:
            try:
                values[name] = self._value_of(name)
            except ValueError as exc:
                errors[name] = str(exc)
        config = RunConfig(**values)
        for problem in config.validate():
            errors.setdefault(problem.field, problem.message)
        self.show_errors(errors)
        return None if errors else config

    def show_errors(self, errors: dict[str, str]) -> None:
        """Mark these fields (e.g. from ConfigError.errors); clear the others."""
        for name in self.field_names:
            message = errors.get(name, "")
            if message != self._shown_errors.get(name, ""):
                error = self.query_one(f"#error-{name}", Static)
                error.update(message)
                error.set_class(bool(message), "-shown")
        self._shown_errors = errors

    def _value_of(self, name: str):
        if name == "model":
            custom = self.query_one("#field-model-custom", Input).value.strip()
            return custom or self.query_one("#field-model", Select).value
        widget = self.query_one(f"#field-{name}")
        if isinstance(widget, (Select, Switch)):
            return widget.value
        return parse_value(name, widget.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self.read()))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.select.id == "field-recipe" and event.value != self._recipe_shown:
            self.show_recipe(event.value)
        self.post_message(self.Changed(self.read()))

    def show_recipe(self, name: str) -> None:
        """Fill the recipe's fields with its settings; the learner can still change each."""
        self._recipe_shown = name
        for field_name, value in SETTINGS[name].items():
            if field_name not in self.field_names:
                continue
            widget = self.query_one(f"#field-{field_name}")
            widget.value = value if isinstance(widget, (Select, Switch)) else str(value)

    def on_switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self.read()))
