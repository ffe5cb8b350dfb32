"""Liger's patch stays with the model it was applied to: after `apply_liger`, transformers'
modeling module holds its own functions and classes again, the patched model's layers still
run Liger's RoPE (forward and checkpointed recomputation), and a model built afterwards does not.

liger-kernel is a GPU package and not installed here, so a stand-in patches the way
liger-kernel 0.8.2's `apply_liger_kernel_to_llama(model=...)` does: the module-level RoPE
function and the RMSNorm/MLP classes, plus the instance's MLPs."""

import sys
import types

import pytest

torch = pytest.importorskip("torch")

from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402
from transformers.models.llama import modeling_llama  # noqa: E402

from tutor.engine.training.speed import apply_liger  # noqa: E402

LAYERS = 2


def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=LAYERS,
                                        num_attention_heads=4, num_key_value_heads=2))


@pytest.fixture
def stand_in_liger(monkeypatch):
    """Installs a fake liger_kernel; returns the list its RoPE and MLP calls are counted in."""
    calls = []
    library_rope, library_mlp_forward = modeling_llama.apply_rotary_pos_emb, modeling_llama.LlamaMLP.forward

    def counting_rope(*args, **kwargs):
        calls.append("rope")
        return library_rope(*args, **kwargs)

    def mlp_forward(self, x):
        calls.append("mlp")
        return library_mlp_forward(self, x)

    def apply_to_llama(rope=True, rms_norm=True, swiglu=True, model=None, **ignored):
        modeling_llama.apply_rotary_pos_emb = counting_rope
        modeling_llama.LlamaRMSNorm = type("LigerRMSNorm", (modeling_llama.LlamaRMSNorm,), {})
        modeling_llama.LlamaMLP = type("LigerSwiGLUMLP", (modeling_llama.LlamaMLP,), {})
        for layer in model.model.layers:
            layer.mlp.__dict__["forward"] = mlp_forward.__get__(layer.mlp)

    monkey_patch = types.ModuleType("liger_kernel.transformers.monkey_patch")
    monkey_patch.MODEL_TYPE_TO_APPLY_LIGER_FN = {"llama": apply_to_llama}
    transformers_part = types.ModuleType("liger_kernel.transformers")
    transformers_part._apply_liger_kernel_to_instance = lambda model, **kwargs: apply_to_llama(model=model, **kwargs)
    transformers_part.monkey_patch = monkey_patch
    monkeypatch.setitem(sys.modules, "liger_kernel", types.ModuleType("liger_kernel"))
    monkeypatch.setitem(sys.modules, "liger_kernel.transformers", transformers_part)
    monkeypatch.setitem(sys.modules, "liger_kernel.transformers.monkey_patch", monkey_patch)
    return calls


def module_globals() -> dict:
    return {name: id(value) for name, value in vars(modeling_llama).items() if not name.startswith("__")}


def test_the_patch_stays_with_its_model(stand_in_liger):
    calls = stand_in_liger
    before = module_globals()
    patched = tiny_llama()
    assert apply_liger(patched) == "Liger kernels: RMSNorm, RoPE, SwiGLU (this model only)"
    assert module_globals() == before

    ids = torch.tensor([[1, 2, 3, 4]])
    patched(input_ids=ids)
    assert calls.count("rope") == LAYERS and calls.count("mlp") == LAYERS  # Liger's kernels, in this model
    assert module_globals() == before  # and only while its layers ran

    calls.clear()
    other = tiny_llama()
    other(input_ids=ids)
    assert calls == []
    assert type(other.model.norm) is modeling_llama.LlamaRMSNorm and type(other.model.layers[0].mlp).__name__ == "LlamaMLP"


def test_checkpointed_recomputation_runs_the_patched_rope_too(stand_in_liger):
    calls = stand_in_liger
    patched = tiny_llama()
    apply_liger(patched)
    patched.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    patched.train()
    ids = torch.tensor([[1, 2, 3, 4]])
    patched(input_ids=ids, labels=ids).loss.backward()
    assert calls.count("rope") == 2 * LAYERS  # forward, then the recomputation in backward
