"""Exercise 8: configs for a GPU budget (lessons 1, 3 and 7).

The plan: fine-tune a 7B model of Llama-2's shape on a GPU with 12 GB of memory, in
batches of 4 sequences of 512 tokens, with LoRA on all linear layers (the QLoRA paper
finds that matters more than the rank). Write the three configs:

- bnb_config(): the transformers BitsAndBytesConfig that loads the base in 4 bits the QLoRA
  way (NF4, double quantization, bf16 compute);
- lora_config(): the peft LoraConfig for a causal LM;
- sft_settings(): the keyword arguments of trl's SFTConfig (batch size, max_length,
  learning rate, optimizer, precision, checkpointing) - a dict, because SFTConfig refuses
  bf16 on a machine without a GPU, and the checks build it for the machine they run on.

Then run `qlora-tutor exercise check plan-configs`: the configs are built on the tiny
teaching model, and the tutor's memory planner must put the plan under 12 GB.
"""

import torch
from peft import LoraConfig
from transformers import BitsAndBytesConfig

GPU_GB = 12
BATCH_SIZE = 4
MAX_LENGTH = 512


def bnb_config() -> BitsAndBytesConfig:
    raise NotImplementedError("TODO")


def lora_config() -> LoraConfig:
    raise NotImplementedError("TODO")


def sft_settings() -> dict:
    raise NotImplementedError("TODO")
