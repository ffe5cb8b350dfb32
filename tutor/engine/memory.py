"""The memory bill of fine-tuning: what sits in GPU memory, per component, in bytes.

Every formula lives here so the lab can hold it against measured GPU peaks. Assumptions:

- Full fine-tuning has two conventions, named in `CONVENTIONS`. The QLoRA paper's ">780 GB"
  for 65B counts 16-bit weights, 16-bit gradients and Adam's two fp32 moments: 12 bytes per
  parameter. Standard mixed-precision AdamW also keeps an fp32 master copy of the weights:
  16 bytes per parameter.
- Optimizers (`OPTIMIZERS`): AdamW keeps two fp32 moments (8 bytes per trained parameter);
  bitsandbytes' 8-bit AdamW keeps them in 8 bits (2 bytes; its block constants, 0.03 byte,
  are left out). A paged optimizer has the same state, but it can be evicted to CPU RAM,
  so the GPU has to hold everything else, not the state (see `verdict`).
- LoRA and QLoRA freeze the base. Adapter weights, their gradients and their Adam moments
  are fp32 (peft upcasts adapters to fp32 by default).
- QLoRA stores every linear-layer weight in NF4 (4 bits) plus double-quantized block
  constants; embeddings and the output head stay 16-bit, as bitsandbytes leaves them.
- Activations follow Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large
  Transformer Models"): about 34 bytes per token per hidden unit per layer in 16-bit, with
  a fused attention kernel so no seq x seq score matrix is stored. With gradient
  checkpointing only each layer's 16-bit input is kept, plus one layer recomputed at a
  time. The loss is computed the way trl's SFTTrainer does it: its fused LM head works in
  fp32 tiles of at most 4,096 tokens x 32,768 vocabulary entries, so only one tile of
  logits exists at a time. Counting full fp32 logits instead overstated a bloomz-560m
  (250,880-token vocabulary) peak 3.7x; see `MEASURED_PEAKS` in the tests.
- GB means 10^9 bytes, as GPU vendors count.
- A bill never uses a card's whole nominal memory (`required_bytes`): PyTorch's caching
  allocator reserves more than the tensors it hands out (reserved over allocated at the peak
  was 4-9 % for the 7B shape in bench/results/h100-*.json; 10 % is counted), and the CUDA
  context and library workspaces sit outside its counters (assumed 0.5 GB; `nvidia-smi`
  shows it on a real card).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from tutor.engine.quantization import constant_bits_per_param

GB = 1e9
METHODS = ("full", "lora", "qlora")
COMMON_GPUS_GB = (16, 24, 48, 80)
CONVENTIONS = {
    "paper": "16-bit weights + gradients, fp32 Adam: 12 bytes/param (QLoRA paper)",
    "master": "+ fp32 master weights: 16 bytes/param (mixed-precision AdamW)",
}
ALLOCATOR_RESERVE = 0.10  # reserved over allocated at the peak: 4-9 % measured at 7B, rounded up
CUDA_CONTEXT_BYTES = 0.5e9  # CUDA context and cuBLAS workspaces: outside PyTorch's counters (assumed)

HALF_BYTES = 2  # bf16 / fp16
FP32_BYTES = 4
ADAM_BYTES = 2 * FP32_BYTES  # first and second moment
ADAM_8BIT_BYTES = 2  # bitsandbytes' 8-bit AdamW: both moments in 8 bits


@dataclass(frozen=True)
class Optimizer:
    label: str
    bytes_per_param: int
    paged: bool


OPTIMIZERS: dict[str, Optimizer] = {
    "adamw": Optimizer("AdamW (fp32 state)", ADAM_BYTES, paged=False),
    "paged_adamw_32bit": Optimizer("paged AdamW, 32-bit", ADAM_BYTES, paged=True),
    "adamw_8bit": Optimizer("8-bit AdamW", ADAM_8BIT_BYTES, paged=False),
    "paged_adamw_8bit": Optimizer("paged 8-bit AdamW", ADAM_8BIT_BYTES, paged=True),
}
NF4_BITS = 4
ACTIVATION_BYTES_PER_TOKEN_HIDDEN_LAYER = 34  # Korthikanti et al. 2022, without the s^2 term
LOSS_TILE_TOKENS = 4096  # trl 1.16 chunked_logprob.TOKEN_CHUNK_SIZE
LOSS_TILE_VOCAB = 32768  # trl 1.16 _CHUNKED_LOGPROB_CHUNK_SIZE


@dataclass(frozen=True)
class ModelShape:
    """A decoder-only transformer's shape, enough to count adapters and activations."""

    hidden: int
    layers: int
    intermediate: int
    vocab: int
    kv_dim: int | None = None  # k/v projection width; smaller than hidden with grouped-query attention
    tied_embeddings: bool = False
    gated_mlp: bool = True  # Llama-style gate/up/down; False for a classic up/down MLP

    @property
    def kv(self) -> int:
        return self.kv_dim or self.hidden

    def attention_linears(self) -> list[tuple[int, int]]:
        """(in, out) of q, k, v, o in one layer."""
        h = self.hidden
        return [(h, h), (h, self.kv), (h, self.kv), (h, h)]

    def mlp_linears(self) -> list[tuple[int, int]]:
        h, i = self.hidden, self.intermediate
        return [(h, i), (h, i), (i, h)] if self.gated_mlp else [(h, i), (i, h)]

    @property
    def embedding_params(self) -> int:
        """Input embedding plus output head: these stay 16-bit under bitsandbytes 4-bit."""
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)


@dataclass(frozen=True)
class Preset:
    label: str
    params: float
    shape: ModelShape
    example: str


PRESETS: dict[str, Preset] = {
    p.label: p
    for p in (
        Preset("0.56B", 0.56e9, ModelShape(1024, 24, 4096, 250880, tied_embeddings=True, gated_mlp=False), "bloomz-560m"),
        Preset("1.1B", 1.1e9, ModelShape(1536, 24, 6144, 250880, tied_embeddings=True, gated_mlp=False), "bloom-1b1"),
        Preset("7B", 7e9, ModelShape(4096, 32, 11008, 32000), "Llama-2 7B"),
        Preset("8B", 8e9, ModelShape(4096, 32, 14336, 128256, kv_dim=1024), "Llama-3.1 8B"),
        Preset("13B", 13e9, ModelShape(5120, 40, 13824, 32000), "Llama-2 13B"),
        Preset("33B", 33e9, ModelShape(6656, 60, 17920, 32000), "LLaMA 33B"),
        Preset("65B", 65e9, ModelShape(8192, 80, 22016, 32000), "LLaMA 65B"),
        Preset("70B", 70e9, ModelShape(8192, 80, 28672, 32000, kv_dim=1024), "Llama-2 70B"),
    )
}


def nearest_preset(params: float) -> Preset:
    """The preset closest in size (log scale): a custom size borrows its shape."""
    return min(PRESETS.values(), key=lambda p: abs(math.log(p.params / params)))


@dataclass(frozen=True)
class MemoryBill:
    """Bytes per component; `total` adds them up."""

    weights: float
    gradients: float
    optimizer: float
    adapter: float
    activations: float
    master_weights: float = 0.0

    @property
    def total(self) -> float:
        return sum(getattr(self, f.name) for f in fields(self))

    def items(self) -> list[tuple[str, float]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


def lora_params(shape: ModelShape, rank: int, targets: str = "attention") -> int:
    """Adapter parameters: r * (in + out) for every targeted linear layer."""
    linears = shape.attention_linears()
    if targets == "all-linear":
        linears += shape.mlp_linears()
    elif targets != "attention":
        raise ValueError(f"targets must be 'attention' or 'all-linear', not {targets!r}")
    return shape.layers * sum(rank * (d_in + d_out) for d_in, d_out in linears)


def qlora_weight_bytes(params: float, shape: ModelShape) -> float:
    """NF4 + double-quantized linear weights, 16-bit embeddings and head."""
    embedding = min(shape.embedding_params, params)
    bits = NF4_BITS + constant_bits_per_param(double_quant=True)
    return (params - embedding) * bits / 8 + embedding * HALF_BYTES


def activation_bytes(
    shape: ModelShape, batch: int = 1, seq_len: int = 512, gradient_checkpointing: bool = True
) -> float:
    tokens = batch * seq_len
    per_layer = ACTIVATION_BYTES_PER_TOKEN_HIDDEN_LAYER * tokens * shape.hidden
    if gradient_checkpointing:
        layers = shape.layers * HALF_BYTES * tokens * shape.hidden + per_layer
    else:
        layers = shape.layers * per_layer
    loss_tile = FP32_BYTES * min(tokens, LOSS_TILE_TOKENS) * min(shape.vocab, LOSS_TILE_VOCAB)
    return layers + loss_tile


def estimate(
    params: float,
    method: str,
    shape: ModelShape | None = None,
    *,
    rank: int = 16,
    targets: str = "attention",
    batch: int = 1,
    seq_len: int = 512,
    gradient_checkpointing: bool = True,
    optimizer_bytes: int = ADAM_BYTES,
    convention: str = "paper",
) -> MemoryBill:
    """The memory bill for fine-tuning a model of `params` parameters with `method`.

    Without a shape, the nearest preset's shape is used for adapters and activations.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {tuple(CONVENTIONS)}, not {convention!r}")
    if params <= 0:
        raise ValueError("the parameter count must be positive")
    shape = shape or nearest_preset(params).shape
    activations = activation_bytes(shape, batch, seq_len, gradient_checkpointing)
    if method == "full":
        return MemoryBill(
            weights=params * HALF_BYTES,
            gradients=params * HALF_BYTES,
            optimizer=params * optimizer_bytes,
            adapter=0.0,
            activations=activations,
            master_weights=params * FP32_BYTES if convention == "master" else 0.0,
        )
    adapter = lora_params(shape, rank, targets)
    weights = params * HALF_BYTES if method == "lora" else qlora_weight_bytes(params, shape)
    return MemoryBill(
        weights=weights,
        gradients=adapter * FP32_BYTES,
        optimizer=adapter * optimizer_bytes,
        adapter=adapter * FP32_BYTES,
        activations=activations,
    )


def required_bytes(
    total_bytes: float, reserve: float = ALLOCATOR_RESERVE, context_bytes: float = CUDA_CONTEXT_BYTES
) -> float:
    """What a card must have for a bill of `total_bytes`: the allocator's reserve on top,
    plus the CUDA context. The one headroom rule every verdict uses; callers with a measured
    reserve (reserved / allocated - 1 of real runs) pass it."""
    return total_bytes * (1 + reserve) + context_bytes


def fits(total_bytes: float, gpu_gb: float) -> bool:
    return required_bytes(total_bytes) <= gpu_gb * GB


def smallest_gpu(total_bytes: float, sizes_gb: tuple[int, ...] = COMMON_GPUS_GB) -> int | None:
    """The smallest common GPU (in GB) that holds the bill with headroom, or None."""
    return next((size for size in sizes_gb if fits(total_bytes, size)), None)


@dataclass(frozen=True)
class Verdict:
    """Which common GPU a bill needs, and whether only paging the optimizer state makes it fit."""

    gpu_gb: int | None
    needs_paging: bool = False


def verdict(bill: MemoryBill, paged: bool = False, sizes_gb: tuple[int, ...] = COMMON_GPUS_GB) -> Verdict:
    """The smallest GPU for `bill`. A paged optimizer can leave its state in CPU RAM, so the GPU
    must hold at least everything else; paging moves nothing but optimizer state."""
    plain = smallest_gpu(bill.total, sizes_gb)
    if paged and (spilled := smallest_gpu(bill.total - bill.optimizer, sizes_gb)) is not None:
        if plain is None or spilled < plain:
            return Verdict(spilled, needs_paging=True)
    return Verdict(plain)
