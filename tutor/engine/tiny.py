"""The tiny teaching model: a small Llama that ships inside the package, made by this project.

Real models need a download and a GPU; this one loads in a second on a CPU, so the whole
QLoRA workflow (4-bit load, baseline answer, LoRA training, reload, new answer) can be seen
anywhere. `scripts/build_tiny.py` makes it reproducibly: a byte-level BPE tokenizer and a
pre-training run on plain English the project generates (`scripts/tiny_english.py`) and
writes (`tutor/data/tiny_corpus.txt`), never on the lab's "I want you to act as ..." prompts.
So its "before" answer reads like English but not like the prompts, and what the lab's
default LoRA run adds is the prompts' shape, as the QLoRA notebook's run adds it to bloom-7b1.
Its attention inputs are scaled up (weights scaled down to match, same function: see
`scale_attention_inputs` in the build script) so that the notebook's learning rate moves it
within 65 steps.

It ships pre-built rather than being built on first use: pre-training it well enough to
write English takes minutes on a CPU, more than a learner or CI should wait.
"""

from __future__ import annotations

from pathlib import Path

from tutor.engine.config import LabError
from tutor.engine.presets import PRESETS

TINY_DIR_NAME = "tiny-v2"  # bump when scripts/build_tiny.py changes
TINY_CONFIG = PRESETS["tiny"].config
BUILD_INFO = "teaching_model.json"
DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SHIPPED_DIR = DATA_DIR / TINY_DIR_NAME


def ensure_tiny() -> Path:
    """The folder of the tiny model; a LabError saying how to rebuild it if the install lost it."""
    if not (SHIPPED_DIR / BUILD_INFO).exists():
        raise LabError(
            f"the tiny teaching model is missing from {SHIPPED_DIR}",
            "Reinstall qlora-tutor, or rebuild it from a source checkout: python scripts/build_tiny.py",
        )
    return SHIPPED_DIR


def tiny_tokenizer():
    """The tiny model's byte-level BPE tokenizer: any text encodes, and its 4,096 ids fit
    every preset's vocabulary (random-weight benchmark models borrow it)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(ensure_tiny())
