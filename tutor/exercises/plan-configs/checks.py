"""Checks for exercise 8 (plan-configs): each config as the QLoRA recipe has it, built on
the tiny model, and the plan priced by the tutor's memory planner (`tutor.engine.memory`)."""

import tempfile

import torch
from peft import get_peft_model
from transformers import AutoModelForCausalLM
from trl import SFTConfig

from tutor.engine.checking import expect, expect_equal
from tutor.engine.memory import GB, PRESETS, estimate, fits, required_bytes
from tutor.engine.tiny import ensure_tiny

BUDGET_GB, BATCH, LENGTH = 12, 4, 512
ALL_LINEAR = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def _sft(learner):
    with tempfile.TemporaryDirectory() as folder:
        return SFTConfig(output_dir=folder, use_cpu=not torch.cuda.is_available(), report_to="none",
                         **learner.sft_settings())


def check_bnb_config(learner):
    """BitsAndBytesConfig: 4-bit NF4, double quantization, bf16 compute"""
    config = learner.bnb_config()
    expect_equal("load_in_4bit", config.load_in_4bit, True)
    expect_equal("bnb_4bit_quant_type", config.bnb_4bit_quant_type, "nf4", {
        "fp4 is bitsandbytes' default; QLoRA's normal-distributed weights want nf4": "fp4"})
    expect_equal("bnb_4bit_use_double_quant", config.bnb_4bit_use_double_quant, True, {
        "without double quantization the constants cost 0.5 bit per weight instead of 0.127": False})
    expect_equal("bnb_4bit_compute_dtype", config.bnb_4bit_compute_dtype, torch.bfloat16, {
        "the default float32 compute dtype is slow and doubles the dequantized weights; use torch.bfloat16": torch.float32})


def check_lora_config(learner):
    """LoraConfig: a causal LM, all linear layers, dropout 0 to 0.1"""
    config = learner.lora_config()
    expect_equal("task_type", getattr(config.task_type, "value", config.task_type), "CAUSAL_LM")
    targets = config.target_modules
    expect(targets == "all-linear" or set(targets or ()) >= ALL_LINEAR,
           f"target_modules is {targets!r}: the plan puts LoRA on all linear layers "
           "('all-linear', or q/k/v/o and gate/up/down)")
    expect(0 <= config.lora_dropout <= 0.1, f"lora_dropout is {config.lora_dropout}: the paper uses 0.05 to 0.1")


def check_sft_settings(learner):
    """SFTConfig: batch 4 x 512 tokens, a paged optimizer, bf16, learning rate near 2e-4"""
    config = _sft(learner)
    expect_equal("[per_device_train_batch_size, max_length]",
                 [config.per_device_train_batch_size, config.max_length], [BATCH, LENGTH])
    expect(str(config.optim.value).startswith("paged_adamw"),
           f"optim is {config.optim.value!r}: a paged optimizer (paged_adamw_8bit or paged_adamw_32bit) "
           "absorbs memory spikes, as in the QLoRA paper")
    expect_equal("bf16", config.bf16, True)
    expect(1e-4 <= config.learning_rate <= 3e-4,
           f"learning_rate is {config.learning_rate:g}: the QLoRA paper trains 7B-13B models at 2e-4")


def check_builds_on_tiny(learner):
    """the tiny model loads with your BitsAndBytesConfig and takes your LoraConfig"""
    bnb = learner.bnb_config()
    bnb.bnb_4bit_compute_dtype = torch.float32  # the CPU backend computes in float32
    model = AutoModelForCausalLM.from_pretrained(ensure_tiny(log=lambda *_: None), quantization_config=bnb,
                                                 dtype=torch.float32, device_map={"": "cpu"})
    expect(any(type(p).__name__ == "Params4bit" for p in model.parameters()),
           "the tiny model loaded without 4-bit weights: set load_in_4bit=True")
    trainable, _ = get_peft_model(model, learner.lora_config()).get_nb_trainable_parameters()
    expect(trainable > 0, "your LoraConfig wraps no layer of the tiny model")


def check_fits_budget(learner):
    """the memory planner puts the plan, with headroom, under 12 GB"""
    bnb, lora, sft = learner.bnb_config(), learner.lora_config(), _sft(learner)
    bill = estimate(7e9, "qlora" if bnb.load_in_4bit else "lora", PRESETS["7B"].shape, rank=lora.r,
                    targets="all-linear", batch=sft.per_device_train_batch_size, seq_len=sft.max_length,
                    gradient_checkpointing=sft.gradient_checkpointing,
                    optimizer_bytes=2 if "8bit" in sft.optim.value else 8)
    parts = ", ".join(f"{name} {value / GB:.1f}" for name, value in bill.items())
    hint = "" if sft.gradient_checkpointing else (" - activations dominate: turn on gradient (activation) "
                                                  "checkpointing")
    expect(fits(bill.total, BUDGET_GB),
           f"the planner puts this plan at {bill.total / GB:.1f} GB ({parts}), {required_bytes(bill.total) / GB:.1f} GB "
           f"with the allocator's reserve and the CUDA context: over the {BUDGET_GB} GB budget{hint}")
