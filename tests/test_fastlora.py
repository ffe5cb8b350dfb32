"""The fused 4-bit LoRA layer: same numbers and gradients as the libraries' layers.

bitsandbytes runs NF4 on the CPU too, so these check the autograd functions against a plain
PyTorch reference (tight, same dtype), and a whole LoRA-wrapped model against peft's own
forward (bf16 LoRA math against peft's float32, so looser).
"""

import pytest

torch = pytest.importorskip("torch")
bnb_functional = pytest.importorskip("bitsandbytes.functional")

from tutor.engine.training import fastlora  # noqa: E402

IN, OUT, RANK, SCALE = 128, 64, 8, 2.0


def quantized(weight):
    packed, state = bnb_functional.quantize_4bit(weight, quant_type="nf4", compress_statistics=True)
    return packed, state


def layer_inputs(seed: int = 0):
    torch.manual_seed(seed)
    weight = torch.randn(OUT, IN, dtype=torch.bfloat16) / IN**0.5
    x = torch.randn(2, 5, IN, dtype=torch.bfloat16, requires_grad=True)
    lora_a = (torch.randn(RANK, IN) / IN**0.5).requires_grad_()
    lora_b = (torch.randn(OUT, RANK) / RANK**0.5).requires_grad_()
    return (x, lora_a, lora_b, *quantized(weight))


def reference(x, lora_a, lora_b, packed, state, dropped=None):
    """What the notebook's autocast computes: the LoRA path in bf16, the float32 weights cast."""
    w = bnb_functional.dequantize_4bit(packed, state).to(torch.bfloat16)
    dropped = x if dropped is None else dropped
    return x @ w.t() + SCALE * ((dropped @ lora_a.to(torch.bfloat16).t()) @ lora_b.to(torch.bfloat16).t())


def grads(out, tensors):
    upstream = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape)
    return torch.autograd.grad(out, tensors, upstream)


def test_lora_layer_matches_the_reference_and_its_gradients():
    x, lora_a, lora_b, packed, state = layer_inputs()
    fused = fastlora._LoraNF4.apply(x, lora_a, lora_b, None, packed, state, SCALE, 0.0)
    plain = reference(x, lora_a, lora_b, packed, state)
    assert fused.shape == (2, 5, OUT) and fused.dtype == torch.bfloat16
    torch.testing.assert_close(fused, plain, atol=2e-2, rtol=2e-2)
    for mine, theirs in zip(grads(fused, (x, lora_a, lora_b)), grads(plain, (x, lora_a, lora_b))):
        assert mine.dtype == theirs.dtype  # float32 adapter weights get float32 gradients
        torch.testing.assert_close(mine, theirs, atol=3e-2, rtol=3e-2)


def test_dropout_is_applied_to_the_lora_path_only_with_its_mask_in_the_gradient():
    x, lora_a, lora_b, packed, state = layer_inputs(seed=1)
    torch.manual_seed(7)
    fused = fastlora._LoraNF4.apply(x, lora_a, lora_b, None, packed, state, SCALE, 0.5)
    torch.manual_seed(7)  # the same draw: the mask the fused layer used
    dropped, mask = torch.native_dropout(x.reshape(-1, IN), 0.5, True)
    assert 0.3 < mask.float().mean() < 0.7
    plain = reference(x, lora_a, lora_b, packed, state, dropped.reshape(x.shape))
    torch.testing.assert_close(fused, plain, atol=2e-2, rtol=2e-2)
    undropped = fastlora._LoraNF4.apply(x, lora_a, lora_b, None, packed, state, SCALE, 0.0)
    assert not torch.allclose(fused, undropped, atol=1e-2)
    for mine, theirs in zip(grads(fused, (x, lora_a, lora_b)), grads(plain, (x, lora_a, lora_b))):
        torch.testing.assert_close(mine, theirs, atol=3e-2, rtol=3e-2)


def test_plain_4bit_layer_with_bias_matches_the_reference():
    x, _, _, packed, state = layer_inputs(seed=2)
    bias = torch.randn(OUT, dtype=torch.bfloat16)
    fused = fastlora._NF4.apply(x, bias, packed, state)
    plain = x @ bnb_functional.dequantize_4bit(packed, state).to(torch.bfloat16).t() + bias
    torch.testing.assert_close(fused, plain, atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(grads(fused, (x,))[0], grads(plain, (x,))[0], atol=2e-2, rtol=2e-2)


@pytest.fixture(scope="module")
def quantized_llama_folder(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("llama")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=128, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    return folder


def lora_model(folder, fused: bool):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tutor.engine.models import four_bit_config

    model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=four_bit_config(torch.bfloat16),
                                                 dtype=torch.bfloat16, device_map={"": "cpu"})
    torch.manual_seed(1)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    for name, param in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero; a non-zero B makes the LoRA path count
            torch.nn.init.normal_(param, std=0.05)
    installed = fastlora.install(model) if fused else 0
    return model.train(), installed


def loss_and_grads(model):
    ids = torch.arange(32).reshape(2, 16) * 3 % 128
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    return loss.item(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


def test_a_whole_lora_model_trains_the_same_through_the_fused_layers(quantized_llama_folder):
    library, _ = lora_model(quantized_llama_folder, fused=False)
    fused, installed = lora_model(quantized_llama_folder, fused=True)
    assert installed == 2 * (4 + 3)  # q/k/v/o with LoRA, gate/up/down without, on 2 layers
    loss_library, grads_library = loss_and_grads(library)
    loss_fused, grads_fused = loss_and_grads(fused)
    assert loss_fused == pytest.approx(loss_library, rel=1e-3)
    assert grads_fused.keys() == grads_library.keys() and len(grads_fused) == 16
    for name, grad in grads_library.items():
        error = (grads_fused[name] - grad).norm() / grad.norm()
        assert error < 0.05, name  # bf16 LoRA math against peft's float32


def test_disabled_adapters_and_extra_arguments_take_the_library_forward(quantized_llama_folder):
    library, _ = lora_model(quantized_llama_folder, fused=False)
    fused, _ = lora_model(quantized_llama_folder, fused=True)
    ids = torch.arange(16).reshape(1, 16)
    with torch.no_grad(), library.disable_adapter(), fused.disable_adapter():
        torch.testing.assert_close(fused(input_ids=ids).logits, library(input_ids=ids).logits)
    layer = fused.base_model.model.model.layers[0].self_attn.q_proj
    x = torch.randn(1, 3, 128, dtype=torch.bfloat16)
    called = []
    layer._library_forward = lambda *args, **kwargs: called.append(kwargs) or layer.base_layer(args[0])
    layer(x, adapter_names=["default"])
    assert called == [{"adapter_names": ["default"]}]


def test_installing_twice_wraps_each_layer_once(quantized_llama_folder):
    model, first = lora_model(quantized_llama_folder, fused=True)
    assert fastlora.install(model) == first
    layer = model.base_model.model.model.layers[0].mlp.up_proj
    assert layer._library_forward.__func__ is not fastlora._fast_4bit_forward


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the direct kernel path is CUDA's")
@pytest.mark.parametrize("shape", [(256, 512), (4096, 11008), (1000, 64)])
def test_direct_cuda_dequantize_equals_bitsandbytes(shape):
    torch.manual_seed(0)
    packed, state = quantized(torch.randn(*shape, dtype=torch.bfloat16, device="cuda"))
    library = bnb_functional.dequantize_4bit(packed, state).to(torch.bfloat16)
    assert fastlora._cuda_kernels() is not None
    torch.testing.assert_close(fastlora._dequantized(packed, state, torch.bfloat16), library, atol=0, rtol=0)


def test_the_direct_kernels_are_used_only_with_the_signatures_they_were_written_for(monkeypatch):
    import sys
    import types

    def fake_module(four_bit):
        module = types.ModuleType("bitsandbytes.backends.cuda.ops")
        module._dequantize_blockwise_impl = lambda A, absmax, code, blocksize, dtype, out: None
        module._dequantize_4bit_impl = four_bit
        return module

    def found(four_bit):
        monkeypatch.setitem(sys.modules, "bitsandbytes.backends.cuda.ops", fake_module(four_bit))
        fastlora._cuda_kernels.cache_clear()
        try:
            return fastlora._cuda_kernels()
        finally:
            fastlora._cuda_kernels.cache_clear()

    assert found(lambda A, absmax, blocksize, quant_type, dtype, out: None) is not None
    assert found(lambda A, absmax, blocksize, quant_type, shape, dtype, out: None) is None
