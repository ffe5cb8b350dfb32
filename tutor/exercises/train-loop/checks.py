"""Checks for exercise 9 (train-loop): the learner's LoRA layers on tiny in 4 bits, counted
against peft, then 20 training steps whose loss must fall while the base stays frozen."""

import json

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from tutor.engine.checking import expect, expect_equal
from tutor.engine.models import four_bit_config
from tutor.engine.tiny import DATA_DIR, ensure_tiny

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]
STEPS, BATCH, LENGTH, MIN_DROP = 20, 4, 32, 0.3


def _tiny_4bit():
    """On the CPU on every machine (bitsandbytes' CPU backend), like the batches: on a GPU
    machine transformers would otherwise place the 4-bit model on cuda."""
    return AutoModelForCausalLM.from_pretrained(ensure_tiny(), dtype=torch.float32, device_map="cpu",
                                                quantization_config=four_bit_config(torch.float32))


def _batches():
    """20 batches of 4 prompts from the lab's dataset, their first 32 tokens (no padding)."""
    tokenizer = AutoTokenizer.from_pretrained(ensure_tiny())
    lines = (DATA_DIR / "prompts.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [row[:LENGTH] for row in tokenizer([json.loads(line)["prompt"] for line in lines])["input_ids"]
            if len(row) >= LENGTH]
    groups = torch.tensor(rows[:4 * BATCH]).reshape(-1, BATCH, LENGTH)
    return [groups[step % len(groups)] for step in range(STEPS)]


def _mean_loss(model, batches) -> float:
    """The loss over each distinct batch, measured the same way before and after training (the
    per-step losses of a 20-step run mix batches and are too noisy to judge a fall by)."""
    distinct = {tuple(batch.flatten().tolist()): batch for batch in batches}.values()
    was_training = model.training
    model.eval()
    with torch.no_grad():
        loss = sum(model(input_ids=batch, labels=batch).loss.item() for batch in distinct) / len(distinct)
    model.train(was_training)
    return loss


def check_add_lora_counts_like_peft(learner):
    """add_lora wraps q/k/v/o of tiny in 4 bits and trains as many parameters as peft would"""
    expected = get_peft_model(_tiny_4bit(), LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS))
    expected = expected.get_nb_trainable_parameters()[0]
    model = _tiny_4bit()
    unfrozen = sum(p.numel() for p in model.parameters() if p.requires_grad)
    returned = learner.add_lora(model, 8, 16)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    expect_equal("trainable parameters after add_lora", trainable, expected, {
        "you did not freeze the model first (model.requires_grad_(False)): embeddings and norms train too":
            expected + unfrozen,
    })
    expect_equal("add_lora's return value", returned, expected)
    wrapped = [m for name, m in model.named_modules() if name.rsplit(".", 1)[-1] in TARGETS]
    expect(wrapped and all(type(m).__name__ == "LoraLinear" for m in wrapped),
           "not every q/k/v/o module is a LoraLinear: replace each with setattr(parent, name, LoraLinear(...))")


def check_loss_falls(learner):
    """20 steps: the first loss is the base model's, the loss on the batches falls by at least 0.3, the 4-bit base is untouched"""
    batches = _batches()
    model = _tiny_4bit()
    with torch.no_grad():  # bitsandbytes' CPU backend repacks the 4-bit weights on the first forward
        first = model(input_ids=batches[0], labels=batches[0]).loss.item()
    before = _mean_loss(model, batches)
    base_weight = model.model.layers[0].self_attn.q_proj.weight.detach().clone()
    embedding = model.model.embed_tokens.weight.detach().clone()
    lora_params = 8 * sum(m.in_features + m.out_features for name, m in model.named_modules()
                          if name.rsplit(".", 1)[-1] in TARGETS)
    torch.manual_seed(0)  # A's random start, and anything else the learner draws: one run, every time
    learner.add_lora(model, 8, 16)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    expect(trainable == lora_params, f"{trainable} parameters would train, not the {lora_params} of the LoRA layers: "
           "fix add_lora first")
    losses = [float(loss) for loss in learner.train(model, batches)]
    expect_equal("number of losses", len(losses), STEPS)
    expect_equal("the first step's loss (B = 0, so the base model's)", losses[0], first, tolerance=1e-3)
    after = _mean_loss(model, batches)
    expect(before - after >= MIN_DROP,
           f"the loss on the training batches fell by {before - after:.2f} (from {before:.2f} to {after:.2f}); "
           f"it must fall by at least {MIN_DROP}: does each step call loss.backward(), optimizer.step() and "
           "optimizer.zero_grad(), with the optimizer over the LoRA parameters?")
    layer = model.model.layers[0].self_attn.q_proj
    expect(torch.equal(layer.base.weight, base_weight) and torch.equal(model.model.embed_tokens.weight, embedding),
           "the base model changed: only the LoRA parameters may train")
