"""LoRA's arithmetic: parameter counts, how well low ranks approximate a matrix, and why
a freshly wrapped model answers exactly like its base."""

from __future__ import annotations

from dataclasses import dataclass


def full_params(d_in: int, d_out: int | None = None) -> int:
    """Entries of the weight matrix W that full fine-tuning updates."""
    return d_in * (d_out or d_in)


def lora_params(d_in: int, rank: int, d_out: int | None = None) -> int:
    """Entries of B (d_out x r) and A (r x d_in): r * (d_in + d_out), 2dr when square."""
    return rank * (d_in + (d_out or d_in))


def kept_share(d_in: int, rank: int, d_out: int | None = None) -> float:
    """Trainable parameters of the adapter as a share of the full matrix."""
    return lora_params(d_in, rank, d_out) / full_params(d_in, d_out)


@dataclass(frozen=True)
class SvdCurve:
    """Relative reconstruction error ||W - W_r|| / ||W|| of the best rank-r approximation."""

    size: int
    true_rank: int
    noise: float
    ranks: list[int]
    errors: list[float]

    def error_at(self, rank: int) -> float:
        return self.errors[self.ranks.index(rank)]


def svd_error_curve(size: int = 64, true_rank: int = 8, noise: float = 0.05, seed: int = 0) -> SvdCurve:
    """A size x size matrix with rank-`true_rank` structure plus Gaussian noise, truncated
    with the SVD to every rank up to size/2 (where B and A hold as many entries as W) and
    rebuilt; the error falls fast until the true rank, then only noise is left to fit."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    left = torch.randn(size, true_rank, generator=generator)
    right = torch.randn(true_rank, size, generator=generator)
    signal = left @ right / true_rank**0.5
    matrix = signal + noise * signal.std() * torch.randn(size, size, generator=generator)
    u, s, vh = torch.linalg.svd(matrix)
    norm = torch.linalg.matrix_norm(matrix)
    ranks = list(range(1, size // 2 + 1))
    errors = [
        float(torch.linalg.matrix_norm(matrix - (u[:, :r] * s[:r]) @ vh[:r]) / norm) for r in ranks
    ]
    return SvdCurve(size, true_rank, noise, ranks, errors)


@dataclass(frozen=True)
class ZeroInitCheck:
    """Outputs of a base model and of the same model wrapped with fresh LoRA adapters."""

    rank: int
    alpha: int
    scaling: float  # read from peft: alpha / r
    adapters: int
    lora_b_max: float  # largest |entry| of every lora_B: 0 at init
    lora_a_max: float  # lora_A is random, so the adapter can learn at all
    max_difference: float  # largest |base logit - wrapped logit|
    difference_after_b_nudge: float  # the same once B is no longer zero

    @property
    def outputs_equal(self) -> bool:
        return self.max_difference == 0.0


def tiny_llama(seed: int = 0):
    """A 2-layer Llama with hidden size 64 and random weights, built from a config (no download)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=64,
    )
    return LlamaForCausalLM(config).eval()


def zero_init_check(rank: int = 8, alpha: int = 16, seed: int = 0) -> ZeroInitCheck:
    """Wrap a random tiny Llama with peft LoRA on q/k/v/o and compare logits with the base."""
    import torch
    from peft import LoraConfig, get_peft_model

    model = tiny_llama(seed)
    tokens = torch.randint(0, model.config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        base_logits = model(tokens).logits.clone()
    config = LoraConfig(r=rank, lora_alpha=alpha, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    torch.manual_seed(seed)  # peft draws lora_A from the global generator
    wrapped = get_peft_model(model, config).eval()  # wraps `model` in place: compare before this
    lora_layers = [m for m in wrapped.modules() if hasattr(m, "lora_B") and "default" in m.lora_B]
    with torch.no_grad():
        wrapped_logits = wrapped(tokens).logits
        b_max = max(float(m.lora_B["default"].weight.abs().max()) for m in lora_layers)
        a_max = max(float(m.lora_A["default"].weight.abs().max()) for m in lora_layers)
        for layer in lora_layers:
            layer.lora_B["default"].weight.fill_(0.01)  # what a first optimizer step might do
        nudged_logits = wrapped(tokens).logits
    return ZeroInitCheck(
        rank=rank,
        alpha=alpha,
        scaling=float(lora_layers[0].scaling["default"]),
        adapters=len(lora_layers),
        lora_b_max=b_max,
        lora_a_max=a_max,
        max_difference=float((wrapped_logits - base_logits).abs().max()),
        difference_after_b_nudge=float((nudged_logits - base_logits).abs().max()),
    )
