"""What peft does to a model, counted to the last parameter and byte.

`inspect_model` builds a model (on the meta device from its config, so even 8B is instant, or
with real weights for the tiny teaching model), wraps it with LoRA exactly as training does,
and walks the result into plain data: a tree of modules and one accounting row per targeted
module type. Every total is computed from shapes alone (r x (in + out) per adapted module)
and then checked against peft's own `get_nb_trainable_parameters`, so the lesson never shows
a number peft would disagree with.

No Textual here; torch, transformers and peft are imported inside functions so the app
starts without them.
"""

from __future__ import annotations

import json
import math
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tutor.engine.errors import LabError
from tutor.engine.quantization import DEFAULT_BLOCKSIZE, SECOND_BLOCKSIZE

if TYPE_CHECKING:
    import torch

ADAPTER_NAME = "default"


class AnatomyError(LabError):
    """Bad input (unknown model, rank 0, a file that is not an adapter); the message says why."""


@dataclass(frozen=True)
class LoraSettings:
    """The LoRA knobs that decide the adapter's shape; alpha and dropout change no count."""

    rank: int = 16
    alpha: int = 16
    targets: str | tuple[str, ...] = "auto"
    dropout: float = 0.05

    def validated(self) -> LoraSettings:
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise AnatomyError(f"rank must be a positive integer, got {self.rank!r}")
        if isinstance(self.targets, str) and self.targets not in ("auto", "all-linear"):
            raise AnatomyError(f"targets must be auto, all-linear or a list of module names, got {self.targets!r}")
        if not isinstance(self.targets, str) and not self.targets:
            raise AnatomyError("the target module list is empty")
        return self


@dataclass
class Node:
    """One module in the wrapped model, as the tree shows it.

    role: container (holds adapted modules), lora (a peft LoRA layer), base_layer (the frozen
    original inside it), lora_A / lora_B (the trainable factors), dropout, untouched (no
    adapter anywhere inside).
    """

    name: str
    type_name: str
    role: str
    shape: str = ""
    trainable: int = 0
    frozen: int = 0
    repeat: int = 1
    children: list[Node] = field(default_factory=list)

    def signature(self) -> tuple:
        """Everything but the node's own name and repeat count: equal means identical layers."""
        return (
            self.type_name, self.role, self.shape, self.trainable, self.frozen,
            tuple((c.name, c.repeat, c.signature()) for c in self.children),
        )


@dataclass(frozen=True)
class TargetRow:
    """One targeted module type: its shape, the adapter's parameters, how many layers have it."""

    module: str
    in_features: int
    out_features: int
    rank: int
    layers: int

    @property
    def lora_a(self) -> int:
        return self.in_features * self.rank

    @property
    def lora_b(self) -> int:
        return self.rank * self.out_features

    @property
    def per_layer(self) -> int:
        return self.lora_a + self.lora_b

    @property
    def total(self) -> int:
        return self.per_layer * self.layers


@dataclass(frozen=True)
class Anatomy:
    """The wrapped model's tree and accounting, plus peft's own count to check it against."""

    model_label: str
    architecture: str
    settings: LoraSettings
    targets: tuple[str, ...]
    base_is_4bit: bool
    on_meta: bool
    tree: Node
    rows: tuple[TargetRow, ...]
    base_params: int
    quantizable_params: int
    peft_trainable: int
    peft_total: int

    @property
    def trainable(self) -> int:
        return sum(row.total for row in self.rows)

    @property
    def total(self) -> int:
        return self.base_params + self.trainable

    @property
    def trainable_share(self) -> float:
        return self.trainable / self.total

    @property
    def agrees_with_peft(self) -> bool:
        return (self.trainable, self.total) == (self.peft_trainable, self.peft_total)

    def adapter_bytes(self, bytes_per_param: int) -> int:
        return self.trainable * bytes_per_param

    def base_bytes(self, bytes_per_param: int) -> int:
        return self.base_params * bytes_per_param

    @property
    def base_nf4_bytes(self) -> int:
        """Linear weights in NF4 with double-quantized scales; the rest stays bf16."""
        return nf4_bytes(self.quantizable_params) + 2 * (self.base_params - self.quantizable_params)


def nf4_bytes(weights: int) -> int:
    """Bytes of `weights` stored as NF4: 4-bit codes, an 8-bit scale per block of 64, and an
    fp32 scale per 256 of those (QLoRA's double quantization, about 4.127 bits a weight)."""
    blocks = math.ceil(weights / DEFAULT_BLOCKSIZE)
    return math.ceil(weights / 2) + blocks + 4 * math.ceil(blocks / SECOND_BLOCKSIZE)


# --- building and wrapping -------------------------------------------------------------


def resolve_config(model: str) -> tuple[Any, str]:
    """A preset name, a local folder with config.json, or a hub id already in the local
    cache -> (transformers config, label). Nothing is downloaded."""
    from transformers import AutoConfig

    from tutor.engine.presets import PRESETS, get_preset, preset_config

    if preset := get_preset(model):
        return preset_config(preset.name), preset.name
    folder = Path(model).expanduser()
    try:
        if folder.is_dir():
            return AutoConfig.from_pretrained(folder), folder.name
        return AutoConfig.from_pretrained(model, local_files_only=True), model
    except (OSError, ValueError) as exc:
        raise AnatomyError(
            f"unknown model '{model}': not a preset, a folder with config.json, or a cached hub id",
            f"presets: {', '.join(PRESETS)}",
        ) from exc


def wrap_with_lora(model: torch.nn.Module, settings: LoraSettings) -> Any:
    """Wrap `model` in place the way the lab trains it, after checking the targets exist."""
    from peft import LoraConfig, get_peft_model

    from tutor.engine.presets import check_rank, detect_targets

    settings.validated()
    spec = settings.targets if isinstance(settings.targets, str) else list(settings.targets)
    targets = detect_targets(model, spec)
    check_rank(settings.rank, model, targets)
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    # A model on the meta device gets its adapter there too: counting needs shapes only,
    # and peft would otherwise allocate and initialize every B and A in real memory.
    on_meta = next(model.parameters()).device.type == "meta"
    return get_peft_model(model, config, low_cpu_mem_usage=on_meta)


def inspect_model(model: str, settings: LoraSettings) -> Anatomy:
    """The anatomy of `model` wrapped with `settings`: tiny with its real weights loaded in
    4 bits, anything else on the meta device."""
    from tutor.engine.presets import meta_model

    settings.validated()
    config, label = resolve_config(model)
    base = load_pretrained(tiny_folder(), four_bit=True) if label == "tiny" else meta_model(config)
    return describe(wrap_with_lora(base, settings), label, settings)


def describe(peft_model: Any, model_label: str, settings: LoraSettings) -> Anatomy:
    """Walk a peft-wrapped model into an `Anatomy` and record peft's count beside ours."""
    from peft.tuners.lora import LoraLayer

    model = peft_model.get_base_model()
    lora_layers = {name: m for name, m in model.named_modules() if isinstance(m, LoraLayer)}
    peft_trainable, peft_total = peft_model.get_nb_trainable_parameters()
    first_param = next(model.parameters())
    return Anatomy(
        model_label=model_label,
        architecture=type(model).__name__,
        settings=settings,
        targets=tuple(dict.fromkeys(name.rsplit(".", 1)[-1] for name in lora_layers)),
        base_is_4bit=any(_is_4bit(p) for p in model.parameters()),
        on_meta=first_param.device.type == "meta",
        tree=_walk(model_label, model, LoraLayer, set()),
        rows=_rows(lora_layers),
        base_params=sum(_logical_numel(p) for n, p in model.named_parameters() if not _is_adapter(n)),
        quantizable_params=_quantizable_params(model),
        peft_trainable=peft_trainable,
        peft_total=peft_total,
    )


def _is_adapter(param_name: str) -> bool:
    return ".lora_A." in param_name or ".lora_B." in param_name


def _is_4bit(param: torch.Tensor) -> bool:
    return type(param).__name__ == "Params4bit"


def _logical_numel(param: torch.Tensor) -> int:
    """Weights a tensor stands for: a packed 4-bit tensor holds two per byte, its quant
    state remembers the original shape."""
    if _is_4bit(param) and getattr(param, "quant_state", None) is not None:
        return param.quant_state.shape.numel()
    return param.numel()


def _quantizable_params(model: torch.nn.Module) -> int:
    """Weights that loading in 4-bit turns into NF4: every linear layer's weight except the
    output head (and the embeddings it may be tied to), which transformers keeps in 16-bit.
    Biases stay 16-bit too. Each weight counts once, so the estimate never exceeds the base."""
    import torch

    kept_16bit = {id(module.weight) for module in (model.get_input_embeddings(), model.get_output_embeddings())
                  if module is not None}
    counted: set[int] = set()
    total = 0
    for name, module in model.named_modules():
        if _is_adapter(name + "."):
            continue
        if isinstance(module, torch.nn.Linear) or type(module).__name__ == "Linear4bit":
            weight = module.weight
            if id(weight) not in kept_16bit | counted:
                counted.add(id(weight))
                total += _logical_numel(weight)
    return total


def _rows(lora_layers: dict[str, Any]) -> tuple[TargetRow, ...]:
    """Group adapted modules by (type name, shape, rank) and count the layers of each."""
    counts: dict[tuple[str, int, int, int], int] = {}
    for name, layer in lora_layers.items():
        key = (name.rsplit(".", 1)[-1], layer.in_features, layer.out_features, layer.r[ADAPTER_NAME])
        counts[key] = counts.get(key, 0) + 1
    return tuple(TargetRow(*key, layers=n) for key, n in counts.items())


def _walk(name: str, module: torch.nn.Module, lora_type: type, seen: set[int]) -> Node:
    """`seen` holds parameters already counted, so a tied output head is not counted twice."""
    type_name = type(module).__name__
    if isinstance(module, lora_type):
        return _lora_node(name, module)
    if not any(isinstance(m, lora_type) for m in module.modules()):
        params = list(module.parameters())
        fresh = [p for p in params if id(p) not in seen]
        seen.update(id(p) for p in params)
        shape = _shape(module) + ("  (weight tied to an earlier module)" if params and not fresh else "")
        return Node(name, type_name, "untouched", shape=shape, frozen=sum(_logical_numel(p) for p in fresh))
    children = [_walk(child_name, child, lora_type, seen) for child_name, child in module.named_children()]
    return Node(
        name, type_name, "container",
        shape=f"{len(children)} x" if type_name == "ModuleList" else "",
        trainable=sum(c.trainable for c in children),
        frozen=sum(c.frozen for c in children),
        children=children,
    )


def _lora_node(name: str, layer: Any) -> Node:
    base = layer.get_base_layer()
    rank = layer.r[ADAPTER_NAME]
    lora_a = layer.in_features * rank
    lora_b = rank * layer.out_features
    frozen = sum(_logical_numel(p) for p in base.parameters())
    dropout = layer.lora_dropout[ADAPTER_NAME]
    children = [
        Node("base_layer", type(base).__name__, "base_layer",
             shape=f"{layer.in_features} -> {layer.out_features}", frozen=frozen),
        Node(f"lora_A.{ADAPTER_NAME}", "Linear", "lora_A", shape=f"{layer.in_features} -> {rank}", trainable=lora_a),
        Node(f"lora_B.{ADAPTER_NAME}", "Linear", "lora_B", shape=f"{rank} -> {layer.out_features}", trainable=lora_b),
        Node(f"lora_dropout.{ADAPTER_NAME}", type(dropout).__name__, "dropout",
             shape=f"p={dropout.p}" if hasattr(dropout, "p") else "off"),
    ]
    return Node(name, f"lora.{type(layer).__name__}", "lora",
                shape=f"{layer.in_features} -> {layer.out_features}, r={rank}",
                trainable=lora_a + lora_b, frozen=frozen, children=children)


def _shape(module: torch.nn.Module) -> str:
    if hasattr(module, "in_features") and hasattr(module, "out_features"):
        return f"{module.in_features} -> {module.out_features}"
    if hasattr(module, "num_embeddings"):
        return f"{module.num_embeddings} x {module.embedding_dim}"
    return ""


def summarize(node: Node) -> Node:
    """Collapse runs of identical numbered siblings (the 32 decoder layers) into one node
    named like "0-31" with `repeat` set; named siblings (two norms) always stay apart."""
    children: list[Node] = []
    for child in map(summarize, node.children):
        last = children[-1] if children else None
        first = last.name.split("-")[0] if last else ""
        if first.isdigit() and child.name.isdigit() and last.signature() == child.signature():
            children[-1] = Node(f"{first}-{child.name}", last.type_name, last.role, last.shape,
                                last.trainable, last.frozen, last.repeat + child.repeat, last.children)
        else:
            children.append(child)
    return Node(node.name, node.type_name, node.role, node.shape, node.trainable, node.frozen,
                node.repeat, children)


# --- a saved adapter -------------------------------------------------------------------

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"


@dataclass(frozen=True)
class AdapterFile:
    """What is inside adapter_model.safetensors: a JSON header, then the raw tensors."""

    path: Path
    file_bytes: int
    header_bytes: int
    params: int
    tensor_bytes: int
    dtypes: tuple[str, ...]

    @property
    def bytes_per_param(self) -> int:
        return self.tensor_bytes // self.params if self.params else 0


def read_adapter_file(path: Path) -> AdapterFile:
    """Parse the safetensors header (8-byte length + JSON) without loading any tensor."""
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
    except (OSError, struct.error, ValueError) as exc:
        raise AnatomyError(f"cannot read {path}: {exc}") from None
    tensors = [v for k, v in header.items() if k != "__metadata__"]
    params = sum(math.prod(t["shape"]) for t in tensors)
    return AdapterFile(
        path=path,
        file_bytes=path.stat().st_size,
        header_bytes=8 + length,
        params=params,
        tensor_bytes=sum(t["data_offsets"][1] - t["data_offsets"][0] for t in tensors),
        dtypes=tuple(sorted({t["dtype"] for t in tensors})),
    )


def read_adapter_config(adapter_dir: Path) -> dict[str, Any]:
    """adapter_config.json of a saved adapter, or a clear error when the folder is not one."""
    config_path = adapter_dir / ADAPTER_CONFIG
    weights_path = adapter_dir / ADAPTER_WEIGHTS
    if not config_path.is_file() or not weights_path.is_file():
        raise AnatomyError(
            f"no adapter in {adapter_dir}: expected {ADAPTER_CONFIG} and {ADAPTER_WEIGHTS}",
            "train one first (lesson lab-train, or `qlora-tutor train`)",
        )
    try:
        return json.loads(config_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise AnatomyError(f"{config_path} is not valid JSON: {exc}") from None


def settings_of(adapter_config: dict[str, Any]) -> LoraSettings:
    """The LoRA settings a saved adapter was trained with."""
    targets = adapter_config.get("target_modules") or "auto"
    return LoraSettings(
        rank=int(adapter_config.get("r", 8)),
        alpha=int(adapter_config.get("lora_alpha", 8)),
        targets=targets if isinstance(targets, str) else tuple(sorted(targets)),
        dropout=float(adapter_config.get("lora_dropout", 0.0)),
    )


@dataclass(frozen=True)
class AdapterCheck:
    """A saved adapter next to the size its settings predict."""

    run_name: str
    anatomy: Anatomy
    file: AdapterFile

    @property
    def computed_bytes(self) -> int:
        return self.anatomy.adapter_bytes(self.file.bytes_per_param)

    @property
    def matches(self) -> bool:
        """The tensors are exactly the predicted bytes; the rest of the file is the header."""
        return self.computed_bytes == self.file.tensor_bytes and self.file.params == self.anatomy.trainable


def adapter_runs() -> list[Path]:
    """Run folders with a finished adapter, newest first."""
    from tutor.paths import runs_dir

    found = [p.parent.parent for p in runs_dir().glob(f"*/adapter/{ADAPTER_WEIGHTS}")]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def check_adapter(run_dir: Path) -> AdapterCheck:
    """Rebuild the run's base on the meta device with the adapter's settings and compare."""
    from tutor.engine.presets import meta_model

    adapter_dir = run_dir / "adapter"
    adapter_config = read_adapter_config(adapter_dir)
    config, label = resolve_config(str(adapter_config.get("base_model_name_or_path", "")))
    settings = settings_of(adapter_config)
    anatomy = describe(wrap_with_lora(meta_model(config), settings), label, settings)
    return AdapterCheck(run_dir.name, anatomy, read_adapter_file(adapter_dir / ADAPTER_WEIGHTS))


# --- merging ---------------------------------------------------------------------------

MERGE_TOLERANCE = 1e-3  # max |logit difference| allowed between merged and base + adapter, fp32
MERGE_PROBE_TOKENS = 16


def tiny_folder() -> Path:
    """The tiny teaching model's folder (it ships in the package)."""
    from tutor.engine.tiny import ensure_tiny

    return ensure_tiny()


def load_pretrained(folder: Path, four_bit: bool) -> torch.nn.Module:
    """A local model with real weights: fp32, or NF4 with double quantization as in training."""
    import torch
    from transformers import AutoModelForCausalLM

    from tutor.engine.models import four_bit_config

    quantization = four_bit_config(torch.float32) if four_bit else None
    return AutoModelForCausalLM.from_pretrained(folder, quantization_config=quantization, dtype=torch.float32)


@dataclass(frozen=True)
class MergeCheck:
    """Merged weights against the unmerged adapter, in full precision and in 4 bits.

    The model that was trained is the adapter on the NF4 base: its layers compute with the
    dequantized NF4 weights. `reload_gap` is how far a merge into a full-precision reload of
    the base strays from it; `dequantized_merge_error` is the merge into those dequantized
    weights themselves."""

    layer: str
    scaling: float
    weight_error: float  # max |W' - (W + alpha/r * B @ A)| on `layer`
    adapter_effect: float  # max |logits change| the adapter causes: the check is not trivial
    merged_error: float  # full-precision base: max |logits(merged) - logits(base + adapter)|
    merged_error_4bit: float  # the same, merging into the NF4 base
    reload_gap: float  # merged into the full-precision reload vs the adapter on the NF4 base
    dequantized_merge_error: float  # merged into the dequantized NF4 weights vs the same
    tolerance: float = MERGE_TOLERANCE

    @property
    def equivalent(self) -> bool:
        return self.merged_error <= self.tolerance and self.weight_error <= self.tolerance


def logits_on_cpu(model: torch.nn.Module, probe: torch.Tensor) -> torch.Tensor:
    """fp32 logits on the CPU, whichever device the model sits on (4-bit loads go to the GPU)."""
    return model(probe.to(model.device)).logits.float().cpu()


def compute_as_in_training(model: torch.nn.Module) -> torch.nn.Module:
    """Keep the 4-bit layers in training mode. In eval mode on a CPU with AVX512-bf16,
    bitsandbytes 0.50 repacks the weights for a bf16 kernel (`Linear4bit.forward`), which
    would blur the comparison; training never takes that path."""
    import bitsandbytes

    for module in model.modules():
        if isinstance(module, bitsandbytes.nn.Linear4bit):
            module.train()
    return model


def dequantized_copy(model_4bit: torch.nn.Module, folder: Path) -> torch.nn.Module:
    """A full-precision model whose linear weights are the NF4 model's, dequantized."""
    import bitsandbytes

    model = load_pretrained(folder, four_bit=False)
    for name, module in model_4bit.named_modules():
        if isinstance(module, bitsandbytes.nn.Linear4bit):
            weight = bitsandbytes.functional.dequantize_4bit(module.weight.data, module.weight.quant_state)
            model.get_submodule(name).weight.data.copy_(weight.float().cpu())
    return model


def check_merge(folder: Path, settings: LoraSettings, seed: int = 0) -> MergeCheck:
    """Give a fresh adapter random B (peft starts B at zero, which would make merging a
    no-op), then compare logits before and after `merge_and_unload`: on an fp32 base, on the
    NF4 base, and on the NF4 weights dequantized."""
    import torch
    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    torch.manual_seed(seed)
    model = wrap_with_lora(load_pretrained(folder, four_bit=False), settings).eval()
    for name, param in model.named_parameters():
        if ".lora_B." in name:
            torch.nn.init.normal_(param, std=0.5)
    probe = torch.arange(1, MERGE_PROBE_TOKENS + 1).unsqueeze(0) % model.config.vocab_size
    adapter_state = get_peft_model_state_dict(model)

    def with_adapter(base: torch.nn.Module) -> Any:
        wrapped = wrap_with_lora(base, settings).eval()
        set_peft_model_state_dict(wrapped, adapter_state)
        return wrapped

    layer_name, layer = next((n, m) for n, m in model.get_base_model().named_modules() if hasattr(m, "lora_A"))
    scaling = layer.scaling[ADAPTER_NAME]
    with torch.no_grad():
        expected_weight = layer.base_layer.weight + scaling * (
            layer.lora_B[ADAPTER_NAME].weight @ layer.lora_A[ADAPTER_NAME].weight)
        with model.disable_adapter():
            base_logits = logits_on_cpu(model, probe)
        adapter_logits = logits_on_cpu(model, probe)
        merged = model.merge_and_unload()
        merged_logits = logits_on_cpu(merged, probe)
        merged_weight = merged.get_submodule(layer_name).weight

        base_4bit = load_pretrained(folder, four_bit=True)
        dequantized = with_adapter(dequantized_copy(base_4bit, folder)).merge_and_unload()
        model_4bit = compute_as_in_training(with_adapter(base_4bit))
        trained_logits = logits_on_cpu(model_4bit, probe)
        with warnings.catch_warnings():  # peft warns about rounding: showing it is the point
            warnings.simplefilter("ignore", UserWarning)
            merged_logits_4bit = logits_on_cpu(model_4bit.merge_and_unload(), probe)

    def gap(a: torch.Tensor, b: torch.Tensor) -> float:
        return (a.float() - b.float()).abs().max().item()

    return MergeCheck(
        layer=layer_name,
        scaling=float(scaling),
        weight_error=gap(merged_weight, expected_weight),
        adapter_effect=gap(adapter_logits, base_logits),
        merged_error=gap(merged_logits, adapter_logits),
        merged_error_4bit=gap(merged_logits_4bit, trained_logits),
        reload_gap=gap(merged_logits, trained_logits),
        dequantized_merge_error=gap(logits_on_cpu(dequantized, probe), trained_logits),
    )
