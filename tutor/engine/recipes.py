"""Named recipes: sets of LoRA and training settings a learner can switch between and compare.

A recipe overrides the same RECIPE_FIELDS every time, so switching from `paper` back to
`notebook` undoes all of `paper`; the run's config.toml records the recipe's name with every
value.

- notebook: the settings of the QLoRA notebook this course starts from (RunConfig's defaults).
- paper: the QLoRA paper's own recipe (qlora.py and its appendix): LoRA on all linear layers,
  r 64, alpha 16, dropout 0.1 up to 13B parameters and 0.05 above, learning rate 2e-4 up to
  13B and 1e-4 above, paged 32-bit AdamW, max_grad_norm 0.3, a constant schedule. The paper
  also trains on the responses only; trl's SFTTrainer does that by itself for data in
  prompt/completion form, and the bundled prompts have no responses, so every token counts.
- fast: the notebook's settings with the packed speed path (tutor.engine.training.speed).
- overfit: 30 passes over 7 samples (5 more held out) at a high learning rate, without dropout,
  so the held-out loss turns up while the training loss keeps falling (measured on tiny on CPU).
"""

from __future__ import annotations

from dataclasses import replace

from tutor.engine.config import RunConfig

RECIPE_FIELDS = (
    "target_modules", "lora_r", "lora_alpha", "lora_dropout", "learning_rate", "epochs",
    "num_samples", "optim", "speed", "lr_scheduler", "max_grad_norm",
)
# The paper's settings change above 13B parameters (its 33B and 65B runs).
PAPER_LARGE_PARAMS = 20e9
PAPER_LARGE = dict(lora_dropout=0.05, learning_rate=1e-4)

_NOTEBOOK = {name: getattr(RunConfig(), name) for name in RECIPE_FIELDS}
SETTINGS: dict[str, dict] = {
    "notebook": _NOTEBOOK,
    "paper": {**_NOTEBOOK, "target_modules": "all-linear", "lora_r": 64, "lora_alpha": 16.0, "lora_dropout": 0.1,
              "optim": "paged_adamw_32bit", "lr_scheduler": "constant", "max_grad_norm": 0.3},
    "fast": {**_NOTEBOOK, "speed": "packed"},
    # What it does on tiny is measured by bench/overfit_curve.py (bench/results/overfit_tiny.json).
    "overfit": {**_NOTEBOOK, "target_modules": "all-linear", "lora_r": 64, "lora_dropout": 0.0, "learning_rate": 1e-3,
                "epochs": 30.0, "num_samples": 12, "lr_scheduler": "constant"},
}


def apply_recipe(config: RunConfig, name: str) -> RunConfig:
    """`config` with the recipe's settings and name; the other fields stay as they are."""
    return replace(config, recipe=name, **SETTINGS[name])


def changed_from_recipe(config: RunConfig) -> dict:
    """The recipe fields set by hand to something else than the recipe says."""
    settings = SETTINGS.get(config.recipe, {})
    return {name: getattr(config, name) for name in RECIPE_FIELDS if getattr(config, name) != settings.get(name)}


def fit_to_model_size(config: RunConfig, params: int) -> str | None:
    """The paper recipe's settings for models above 13B, where they are still the small-model
    ones; returns a line for the run's log, or None when nothing changed."""
    if config.recipe != "paper" or params <= PAPER_LARGE_PARAMS:
        return None
    changed = {k: v for k, v in PAPER_LARGE.items() if getattr(config, k) == SETTINGS["paper"][k]}
    for name, value in changed.items():
        setattr(config, name, value)
    if not changed:
        return None
    return "paper recipe above 13B parameters: " + ", ".join(f"{k} {v}" for k, v in changed.items())
