"""Build the tiny teaching model that ships in tutor/data/: `python scripts/build_tiny.py [FOLDER]`.

Generates the plain-English corpus (tiny_english.py plus the hand-written
tutor/data/tiny_corpus.txt), trains a byte-level BPE tokenizer on it, pre-trains a small Llama
on it (next-token loss on random windows, one CPU thread, seeded), and saves model, tokenizer
and a build record (teaching_model.json) into FOLDER, by default the packaged
tutor/data/<TINY_DIR_NAME>. The weights are stored in fp16 to keep the package small.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scripts.tiny_english import paragraphs  # noqa: E402
from tutor.engine.tiny import BUILD_INFO, DATA_DIR, SHIPPED_DIR, TINY_CONFIG  # noqa: E402

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>"]
GENERATED_PARAGRAPHS = 12000
STEPS = 300
SEQ_LEN = 128
BATCH = 8
LR = 2e-3
ATTENTION_INPUT_GAIN = 30.0  # see scale_attention_inputs
SEED = 1234


def corpus() -> list[str]:
    handwritten = (DATA_DIR / "tiny_corpus.txt").read_text(encoding="utf-8")
    documents = [block.strip() for block in handwritten.split("\n\n") if block.strip()]
    return documents + paragraphs(GENERATED_PARAGRAPHS, SEED)


def build_tokenizer(documents: list[str]) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer: any text encodes, the corpus's words in few tokens."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_CONFIG["vocab_size"], special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tokenizer.train_from_iterator(documents, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>",
        model_max_length=TINY_CONFIG["max_position_embeddings"],
    )


def pretrain(model, tokens: torch.Tensor, steps: int, log) -> list[float]:
    """Next-token training on random windows of the corpus; returns the loss per step."""
    generator = torch.Generator().manual_seed(SEED)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, LR, total_steps=steps, pct_start=0.05)
    model.train()
    losses = []
    for step in range(steps):
        starts = torch.randint(0, len(tokens) - SEQ_LEN - 1, (BATCH,), generator=generator)
        batch = torch.stack([tokens[s : s + SEQ_LEN] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 100 == 0 or step == steps - 1:
            log(f"step {step:5d}  loss {loss.item():.3f}")
    return losses


def scale_attention_inputs(model, gain: float) -> None:
    """Multiply each attention block's input norm by `gain` and divide q, k and o by it.

    The model computes the same function (tests/test_tiny_and_data.py checks it), but the
    inputs of the q, k and o projections are `gain` times larger, and so is the output of a
    LoRA update B·A on them, while the frozen weights' output is unchanged. Measured with the
    QLoRA notebook's recipe (lr 2e-4, 65 steps): on an earlier build, gains 1 and 10 left the held-out
    answers unshaped (0 of 10) and gain 30 moved the model about as far as a learning rate of
    2e-3; on this build, gain 30 gives 9 of 10 (tests/test_tiny_learns_shape.py).
    """
    with torch.no_grad():
        for layer in model.model.layers:
            layer.input_layernorm.weight.mul_(gain)
            for projection in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.o_proj):
                projection.weight.div_(gain)


def build(folder: Path, steps: int = STEPS, log=print) -> dict:
    started = time.monotonic()
    torch.manual_seed(SEED)
    torch.set_num_threads(1)  # one thread: repeatable numbers, and tiny matrices gain little from more
    documents = corpus()
    tokenizer = build_tokenizer(documents)
    config = LlamaConfig(
        **{k: v for k, v in TINY_CONFIG.items() if k != "model_type"},
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config)
    # Documents are joined by blank lines, never by </s>: the model does not learn to stop,
    # so its "before" answer runs on in plain English; stopping is something LoRA teaches.
    stream = tokenizer.backend_tokenizer.encode("\n\n".join(documents)).ids
    losses = pretrain(model, torch.tensor(stream), steps, log)
    model.eval()
    scale_attention_inputs(model, ATTENTION_INPUT_GAIN)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    folder.mkdir(parents=True, exist_ok=True)
    model.to(torch.float16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    info = {
        "teaching": True,
        "corpus_documents": len(documents),
        "corpus_tokens": len(stream),
        "pretrain_steps": steps,
        "attention_input_gain": ATTENTION_INPUT_GAIN,
        "first_loss": round(losses[0], 3),
        "final_loss": round(sum(losses[-50:]) / 50, 3),
        "build_seconds": round(time.monotonic() - started, 1),
        "weights_sha256": hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest(),
    }
    (folder / BUILD_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=SHIPPED_DIR)
    parser.add_argument("--steps", type=int, default=STEPS)
    args = parser.parse_args()
    print(json.dumps(build(args.folder, args.steps), indent=2))
