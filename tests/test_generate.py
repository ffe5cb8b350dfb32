"""Answers: greedy tokens equal plain `model.generate`, with the KV cache, whatever state
training left the model in; the static-cache path (tutor.engine.static_decode, forced on
CPU) gives the same tokens and stream, and gives way to `generate` when it fails.

A small random Llama in NF4 on the CPU (bitsandbytes' CPU backend), with a LoRA whose B is
not zero, so the adapter changes the answer; and the shipped tiny model with such a LoRA."""

import copy

import pytest

torch = pytest.importorskip("torch")

from tutor.engine.config import RunConfig  # noqa: E402
from tutor.engine.events import EventWriter, read_all  # noqa: E402
from tutor.engine import generate, static_decode  # noqa: E402
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


@pytest.fixture(scope="module")
def tiny_lora():
    """The shipped tiny model in NF4 as the lab loads it, with a random LoRA on q/k/v/o."""
    from peft import LoraConfig, get_peft_model

    from tutor.engine import models

    model, tokenizer = models.load_base(RunConfig(model="tiny", device="cpu"), models.resolve_model("tiny"), "cpu",
                                        "fp32", for_training=False)
    torch.manual_seed(2)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, init_lora_weights=False,
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]))
    return model.eval(), tokenizer


def streamed_answer(model, tokenizer, config: RunConfig, decode: str, **kwargs) -> tuple[list[int], list[str]]:
    pieces = []
    inputs = tokenizer(config.prompt, return_tensors="pt")
    tokens = answer_tokens(model, tokenizer, inputs, config, pieces.append, decode=decode, **kwargs)
    return tokens.tolist()[0], pieces


@pytest.mark.parametrize("prompt,max_new_tokens", [
    ("I want you to act as a motivation coach.", 3),
    ("Explain what a low-rank adapter is.", 10),
    ("Write a short poem about the sea.", 6),
])
@pytest.mark.parametrize("adapter", [False, True])
def test_the_static_path_streams_generates_tokens_for_the_tiny_model(tiny_lora, prompt, max_new_tokens, adapter):
    from contextlib import nullcontext

    model, tokenizer = tiny_lora
    config = RunConfig(device="cpu", max_new_tokens=max_new_tokens, prompt=prompt)
    with nullcontext() if adapter else model.disable_adapter():
        reference, reference_pieces = streamed_answer(model, tokenizer, config, "generate")
        tokens, pieces = streamed_answer(model, tokenizer, config, "static")
    assert len(reference) == max_new_tokens
    assert tokens == reference and pieces == reference_pieces and len(pieces) > 1


def test_the_static_path_stops_at_eos_as_generate_does(tiny_lora):
    model, tokenizer = tiny_lora
    config = RunConfig(device="cpu", max_new_tokens=12, prompt="Explain what a low-rank adapter is.")
    ids = tokenizer(config.prompt, return_tensors="pt")["input_ids"]
    full = answer_tokens(model, tokenizer, {"input_ids": ids}, config, decode="generate")[0].tolist()
    eos = full[4]  # a token the answer writes: as EOS, it ends the answer early
    settings = dict(max_new_tokens=12, repetition_penalty=config.repetition_penalty, do_sample=False,
                    eos_token_id=eos, pad_token_id=tokenizer.pad_token_id)
    with torch.inference_mode():
        reference = model.generate(ids, **settings)[0, ids.shape[1]:].tolist()
        tokens = static_decode.greedy_answer(model, ids, settings, graphs=False)[0].tolist()
    assert tokens == reference == full[:full.index(eos) + 1] and len(tokens) < 12


def test_the_static_path_stops_at_an_extra_end_of_turn_id_as_generate_does(tiny_lora):
    """A chat answer stops at EOS or the template's end-of-turn token: both paths take the list."""
    model, tokenizer = tiny_lora
    config = RunConfig(device="cpu", max_new_tokens=12, prompt="Explain what a low-rank adapter is.")
    ids = tokenizer(config.prompt, return_tensors="pt")["input_ids"]
    full = answer_tokens(model, tokenizer, {"input_ids": ids}, config, decode="generate")[0].tolist()
    turn_end = full[3]  # a token the answer writes: as the end of the turn, it ends the answer early
    assert tokenizer.eos_token_id not in full[:4]
    settings = dict(max_new_tokens=12, repetition_penalty=config.repetition_penalty, do_sample=False,
                    eos_token_id=[tokenizer.eos_token_id, turn_end], pad_token_id=tokenizer.pad_token_id)
    with torch.inference_mode():
        reference = model.generate(ids, **settings)[0, ids.shape[1]:].tolist()
        tokens = static_decode.greedy_answer(model, ids, settings, graphs=False)[0].tolist()
    assert tokens == reference == full[:full.index(turn_end) + 1] and len(tokens) == 4


def test_a_chat_answer_is_asked_through_the_template_and_stops_at_its_turn_end(tiny_lora, monkeypatch):
    from tutor.engine.sft_data import with_training_template

    model, tokenizer = tiny_lora
    chat_tokenizer = copy.deepcopy(tokenizer)
    chat_tokenizer.chat_template = with_training_template(chat_tokenizer, "tiny").chat_template
    im_end = chat_tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert generate.end_of_turn_id(chat_tokenizer) == im_end
    assert generate.decoding(CONFIG, chat_tokenizer, chat=True)["eos_token_id"] == [tokenizer.eos_token_id, im_end]
    assert generate.decoding(CONFIG, chat_tokenizer)["eos_token_id"] == tokenizer.eos_token_id
    inputs = generate.prompt_inputs(chat_tokenizer, CONFIG.prompt, chat=True)
    assert chat_tokenizer.decode(inputs["input_ids"][0]).endswith(
        f"<|im_start|>user\n{CONFIG.prompt}<|im_end|>\n<|im_start|>assistant\n")
    assert generate.prompt_inputs(chat_tokenizer, CONFIG.prompt)["input_ids"].tolist() == \
        tokenizer(CONFIG.prompt, return_tensors="pt")["input_ids"].tolist()
    seen = {}
    real = static_decode.static_greedy

    def recording(model, input_ids, max_new_tokens, processors, eos_token_id, *args, **kwargs):
        seen["eos"] = eos_token_id
        return real(model, input_ids, max_new_tokens, processors, eos_token_id, *args, **kwargs)

    monkeypatch.setattr(static_decode, "static_greedy", recording)
    fast = answer_tokens(model, chat_tokenizer, inputs, CONFIG, decode="static", chat=True)
    assert seen["eos"] == [tokenizer.eos_token_id, im_end]
    assert fast.tolist() == answer_tokens(model, chat_tokenizer, inputs, CONFIG, decode="generate", chat=True).tolist()


def test_auto_keeps_generate_on_cpu(lora_model, tokenizer, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the static path ran on CPU")

    monkeypatch.setattr(static_decode, "static_greedy", refuse)
    tokens, _ = streamed_answer(lora_model, tokenizer, CONFIG, "auto")
    assert tokens == plain_generate(lora_model, tokenizer)[0]


@pytest.mark.parametrize("fails_after", [0, 3])
def test_a_failing_static_path_gives_way_to_generate_and_says_so(lora_model, tokenizer, monkeypatch, fails_after):
    """Tokens already streamed are not streamed again: the stream adds up to the answer."""
    reference, reference_pieces = streamed_answer(lora_model, tokenizer, CONFIG, "generate")
    real = static_decode.static_greedy

    def fail_midway(model, input_ids, max_new_tokens, *args, **kwargs):
        if fails_after:
            real(model, input_ids, fails_after, *args, **kwargs)
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(static_decode, "static_greedy", fail_midway)
    notes = []
    tokens, pieces = streamed_answer(lora_model, tokenizer, CONFIG, "static", on_note=notes.append)
    assert tokens == reference and "".join(pieces) == "".join(reference_pieces)
    assert notes == ["fast answer path unavailable (RuntimeError: operation not permitted when stream is capturing); "
                     "answering with model.generate (same tokens, slower)"]


def test_generate_answer_logs_the_fallback(lora_model, tokenizer, tmp_path, monkeypatch):
    def unsupported(*args, **kwargs):
        raise static_decode.NotReproducible("the generation config asks for beam_search")

    monkeypatch.setattr(static_decode, "greedy_processors", unsupported)
    monkeypatch.setattr(generate, "_static_path_applies", lambda *args: True)  # as auto does on CUDA
    events = EventWriter(tmp_path)
    text = generate_answer(lora_model, tokenizer, CONFIG, "tuned", events, lambda: False)
    events.close()
    written = read_all(tmp_path)
    logs = [e for e in written if e["type"] == "log"]
    assert len(logs) == 1 and "beam_search" in logs[0]["message"]  # a line in the run's log
    assert not [e for e in written if e["type"] in ("warning", "error")]
    assert text == tokenizer.decode(plain_generate(lora_model, tokenizer)[0], skip_special_tokens=True)


def test_settings_generate_would_decode_differently_are_refused(lora_model):
    settings = dict(max_new_tokens=4, repetition_penalty=1.5, do_sample=False, eos_token_id=2, pad_token_id=0)
    assert len(static_decode.greedy_processors(lora_model, settings, 5, "cpu")) == 1  # the repetition penalty
    for extra, said in [(dict(num_beams=2), "beam"), (dict(no_repeat_ngram_size=3), "NoRepeatNGram"),
                        (dict(stop_strings=["."]), "strings")]:
        with pytest.raises(static_decode.NotReproducible, match=said):
            static_decode.greedy_processors(lora_model, {**settings, **extra}, 5, "cpu")


def test_sampled_answers_repeat_with_their_seed(lora_model, tokenizer):
    sampled = RunConfig(device="cpu", max_new_tokens=12, prompt=CONFIG.prompt, sampling=True, temperature=1.5, seed=3)
    inputs = tokenizer(CONFIG.prompt, return_tensors="pt")
    first = answer_tokens(lora_model, tokenizer, inputs, sampled).tolist()
    assert answer_tokens(lora_model, tokenizer, inputs, sampled).tolist() == first
    assert first != plain_generate(lora_model, tokenizer)
