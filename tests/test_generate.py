"""Answers: greedy tokens equal plain `model.generate`, with the KV cache, whatever state
training left the model in; and the bench's static-cache decode loop gives the same tokens.

A small random Llama in NF4 on the CPU (bitsandbytes' CPU backend), with a LoRA whose B is
not zero, so the adapter changes the answer."""

import pytest

torch = pytest.importorskip("torch")

from tutor.engine.config import RunConfig  # noqa: E402
from tutor.engine.events import EventWriter, read_all  # noqa: E402
from tutor.engine.generate import answer_tokens, generate_answer  # noqa: E402
from tutor.engine.training import fastlora  # noqa: E402

CONFIG = RunConfig(device="cpu", max_new_tokens=12, prompt="What does a low-rank adapter learn?")


@pytest.fixture(scope="module")
def tokenizer():
    from tutor.engine.tiny import tiny_tokenizer

    built = tiny_tokenizer()
    built.pad_token = built.pad_token or built.eos_token
    return built


@pytest.fixture(scope="module")
def lora_model(tmp_path_factory, tokenizer):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

    from tutor.engine.models import four_bit_config

    folder = tmp_path_factory.mktemp("llama")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=four_bit_config(torch.float32),
                                                 dtype=torch.float32, device_map={"": "cpu"})
    torch.manual_seed(1)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.1, init_lora_weights=False,
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    return model.eval()


def plain_generate(model, tokenizer, rows: int = 1, **kwargs) -> list[list[int]]:
    inputs = tokenizer([CONFIG.prompt] * rows, return_tensors="pt")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=CONFIG.max_new_tokens, do_sample=False,
                                repetition_penalty=CONFIG.repetition_penalty, eos_token_id=tokenizer.eos_token_id,
                                pad_token_id=tokenizer.pad_token_id, **kwargs)
    return output[:, inputs["input_ids"].shape[1]:].tolist()


def test_answers_from_a_model_left_in_training_state_are_plain_greedy_with_the_cache(lora_model, tokenizer):
    reference = plain_generate(lora_model, tokenizer)
    with lora_model.disable_adapter():
        assert plain_generate(lora_model, tokenizer) != reference  # the adapter counts
    lora_model.train()
    lora_model.gradient_checkpointing_enable()  # in train mode this switches the KV cache off
    lora_model.config.use_cache = False  # as models.load_base(for_training=True) leaves it
    installed = fastlora.install(lora_model)
    layer = next(m for m in lora_model.modules() if "_library_forward" in m.__dict__)
    seen_lengths, forwards = [], []
    hooks = [lora_model.get_base_model().model.register_forward_pre_hook(
                 lambda module, args, kwargs: seen_lengths.append(kwargs["input_ids"].shape[1]), with_kwargs=True),
             layer.register_forward_pre_hook(lambda module, args: forwards.append(module.__dict__["forward"]))]
    try:
        inputs = tokenizer(CONFIG.prompt, return_tensors="pt")
        tokens = answer_tokens(lora_model, tokenizer, inputs, CONFIG).tolist()
    finally:
        for hook in hooks:
            hook.remove()
    assert installed == 2 * 7 and tokens == reference  # 4 LoRA + 3 MLP layers per block
    assert seen_lengths == [inputs["input_ids"].shape[1]] + [1] * (len(tokens[0]) - 1)  # the cache is used
    assert {id(f) for f in forwards} == {id(layer._library_forward)}  # not fastlora's training function
    assert lora_model.training and layer.forward.__func__ is fastlora._fast_lora_forward  # put back
    lora_model.gradient_checkpointing_disable()
    lora_model.config.use_cache = True
    lora_model.eval()


def test_the_answer_streams_as_token_events_that_add_up_to_it(lora_model, tokenizer, tmp_path):
    events = EventWriter(tmp_path)
    text = generate_answer(lora_model, tokenizer, CONFIG, "tuned", events, lambda: False)
    events.close()
    written = read_all(tmp_path)
    pieces = [e["text"] for e in written if e["type"] == "token"]
    closing = [e for e in written if e["type"] == "generation"]
    assert len(pieces) > 1 and "".join(pieces).strip() == text.strip()
    assert closing[0]["text"] == text and closing[0]["new_tokens"] == len(plain_generate(lora_model, tokenizer)[0])


@pytest.mark.parametrize("rows_on", [None, [False, True]])
def test_the_static_cache_loop_gives_generates_tokens(lora_model, tokenizer, rows_on):
    from contextlib import nullcontext

    from bench.graph_decode import adapter_rows, static_greedy

    if rows_on and lora_model.device.type == "cuda":
        pytest.skip("two rows in one batch round differently from batch 1 on CUDA (bench: compare-graph2)")
    ids = tokenizer([CONFIG.prompt] * len(rows_on or [0]), return_tensors="pt")["input_ids"].to(lora_model.device)
    with adapter_rows(lora_model, rows_on) if rows_on else nullcontext(), torch.inference_mode():
        tokens = static_greedy(lora_model, ids, CONFIG.max_new_tokens, CONFIG.repetition_penalty,
                               tokenizer.eos_token_id, tokenizer.pad_token_id, graphs=False).tolist()
    tuned = plain_generate(lora_model, tokenizer)
    if rows_on is None:
        assert tokens == tuned
    else:
        with lora_model.disable_adapter():
            base = plain_generate(lora_model, tokenizer)
        assert tokens == base + tuned and base != tuned


def test_sampled_answers_repeat_with_their_seed(lora_model, tokenizer):
    sampled = RunConfig(device="cpu", max_new_tokens=12, prompt=CONFIG.prompt, sampling=True, temperature=1.5, seed=3)
    inputs = tokenizer(CONFIG.prompt, return_tensors="pt")
    first = answer_tokens(lora_model, tokenizer, inputs, sampled).tolist()
    assert answer_tokens(lora_model, tokenizer, inputs, sampled).tolist() == first
    assert first != plain_generate(lora_model, tokenizer)
