"""The tiny teaching model: a small Llama the tutor builds itself, offline and deterministic.

Real models need a download and a GPU; this one is built in well under a minute on a CPU so
the whole QLoRA workflow (4-bit load, baseline answer, LoRA training, reload, new answer)
can be seen anywhere. It is pre-trained briefly on a fixed English corpus shipped with the
package (`tutor/data/tiny_corpus.txt`) so its "before" answer reads like English but not
like the training prompts, and the before/after contrast teaches what the seed's does.

The build is cached in `paths.models_dir() / TINY_DIR_NAME`; a file lock and an atomic
rename keep two processes from building into (or reading) a half-written folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from tutor import paths
from tutor.engine.presets import PRESETS

TINY_DIR_NAME = "tiny-v1"  # bump when the recipe below changes
TINY_CONFIG = PRESETS["tiny"].config
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]
PRETRAIN_STEPS = 200
PRETRAIN_SEQ_LEN = 64
PRETRAIN_BATCH = 8
PRETRAIN_LR = 3e-3
SEED = 1234
BUILD_INFO = "teaching_model.json"
DATA_DIR = Path(__file__).resolve().parents[1] / "data"


def corpus_text() -> str:
    return (DATA_DIR / "tiny_corpus.txt").read_text(encoding="utf-8")


def ensure_tiny(log=print) -> Path:
    """The folder of the built tiny model, building it first if it is not cached yet."""
    target = paths.models_dir() / TINY_DIR_NAME
    if (target / BUILD_INFO).exists():
        return target
    lock_path = paths.models_dir() / f"{TINY_DIR_NAME}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second builder waits here, then finds it built
        if (target / BUILD_INFO).exists():
            return target
        log("building the tiny teaching model (once; it is cached afterwards)")
        for leftover in paths.models_dir().glob(f".{TINY_DIR_NAME}-*"):
            shutil.rmtree(leftover, ignore_errors=True)  # from a build killed before its cleanup
        staging = Path(tempfile.mkdtemp(prefix=f".{TINY_DIR_NAME}-", dir=paths.models_dir()))
        try:
            build_tiny(staging)
            if target.exists():
                shutil.rmtree(target)  # an incomplete folder from an older, killed build
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def build_tokenizer():
    """A byte-level BPE tokenizer trained on the corpus, wrapped for transformers."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_CONFIG["vocab_size"],
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_documents(corpus_text()), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        model_max_length=TINY_CONFIG["max_position_embeddings"],
    )


def build_tiny(folder: Path) -> dict:
    """Train the tokenizer, pre-train the model, save both into `folder`. Seeded."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    started = time.monotonic()
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # tiny matrices: more threads only add contention
    tokenizer = build_tokenizer()
    config = LlamaConfig(
        **{k: v for k, v in TINY_CONFIG.items() if k != "model_type"},
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    # Documents are joined by blank lines, never by </s>: the model does not learn to stop,
    # so its "before" answer runs on in plain English; stopping is something LoRA teaches.
    stream = tokenizer.backend_tokenizer.encode("\n\n".join(_documents(corpus_text()))).ids
    tokens = torch.tensor(stream)
    losses = _pretrain(model, tokens)
    model.eval()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    info = {
        "teaching": True,
        "corpus_tokens": len(stream),
        "pretrain_steps": PRETRAIN_STEPS,
        "first_loss": round(losses[0], 3),
        "final_loss": round(sum(losses[-20:]) / 20, 3),
        "build_seconds": round(time.monotonic() - started, 1),
    }
    (folder / BUILD_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
    return info


def _pretrain(model, tokens) -> list[float]:
    """Next-token training on random windows of the corpus; returns the loss per step."""
    import torch

    generator = torch.Generator().manual_seed(SEED)
    optimizer = torch.optim.AdamW(model.parameters(), lr=PRETRAIN_LR, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, PRETRAIN_LR, total_steps=PRETRAIN_STEPS, pct_start=0.1)
    model.train()
    losses = []
    for _ in range(PRETRAIN_STEPS):
        starts = torch.randint(0, len(tokens) - PRETRAIN_SEQ_LEN - 1, (PRETRAIN_BATCH,), generator=generator)
        batch = torch.stack([tokens[s : s + PRETRAIN_SEQ_LEN] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses


def _documents(text: str) -> list[str]:
    return [block.strip() for block in text.split("\n\n") if block.strip()]
