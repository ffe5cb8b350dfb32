"""Exercise 8, a reference solution: configs for a 7B model on a 12 GB GPU."""

import torch
from peft import LoraConfig
from transformers import BitsAndBytesConfig

GPU_GB = 12
BATCH_SIZE = 4
MAX_LENGTH = 512


def bnb_config() -> BitsAndBytesConfig:
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=torch.bfloat16)


def lora_config() -> LoraConfig:
    return LoraConfig(r=16, lora_alpha=16, lora_dropout=0.05, target_modules="all-linear", bias="none",
                      task_type="CAUSAL_LM")


def sft_settings() -> dict:
    return dict(per_device_train_batch_size=BATCH_SIZE, max_length=MAX_LENGTH, learning_rate=2e-4,
                optim="paged_adamw_8bit", bf16=True, gradient_checkpointing=True)
