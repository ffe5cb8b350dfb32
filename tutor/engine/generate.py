"""Streaming generation: the answer arrives as `token` events while the model writes it.

Greedy decoding by default, with the QLoRA notebook's repetition penalty, so the same model and prompt
always give the same answer and before/after comparisons are fair. With `sampling` on, each
answer draws from the distribution at `temperature`, seeded with `seed` before every answer,
so a sampled answer is still repeatable.

Whatever state training left the model in, an answer is decoded the inference way: eval
mode (no dropout; gradient checkpointing, which switches the KV cache off, only acts in
train mode), the KV cache on, no autograd records, and 4-bit layers through the libraries'
own inference kernels rather than tutor.engine.training.fastlora's training function, which
dequantizes every weight for every token.

On CUDA a greedy answer runs through tutor.engine.static_decode (static KV cache, each decode
step replayed as a CUDA graph): the tokens `generate` would give, streamed as they come,
3.5 times as fast on a 7B in NF4 (4 times with a LoRA; H200,
bench/results/generate-speed-product-h200-2026-12-02.json);
`generate` answers whatever that path does not cover.

A prompt is asked the way the adapter was trained: after training on conversations (trl's
`messages` rows, or prompt/completion rows given as turns) as one user turn through the chat
template the trainer rendered them with, the generation prompt after it, the answer ending at
the template's end-of-turn token as well as EOS; otherwise as plain text, which is also how
trl 1.16 joins a plain prompt and its completion (`prompt + completion`, one string).
The train job records which in the adapter folder (`record_training_data`).
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from tutor.engine.config import RunConfig
from tutor.engine.events import EventWriter


TRAINING_DATA_FILE = "training_data.json"
ASKED_AS_CHAT = ("answers asked as a chat turn with the training template (the training data is conversations), "
                 "stopping at the template's end-of-turn token")


def record_training_data(folder: Path, shape: str, chat: bool) -> None:
    """Write into an adapter folder (while it is staged) what it trained on, for later answers."""
    (folder / TRAINING_DATA_FILE).write_text(json.dumps({"shape": shape, "chat": chat}) + "\n", encoding="utf-8")


def trained_on_chat(adapter: Path) -> bool:
    """Did the lab run that saved `adapter` train on conversations? False for an adapter from
    elsewhere, or one saved before the lab recorded it."""
    try:
        return json.loads((adapter / TRAINING_DATA_FILE).read_text(encoding="utf-8")).get("chat") is True
    except (OSError, ValueError, AttributeError):
        return False


def prompt_inputs(tokenizer, prompt: str, chat: bool = False):
    """The prompt's input ids and mask as the model is asked: plain text, or (`chat`) one user
    turn through the tokenizer's chat template with the generation prompt, as trl renders a
    conversation's prompt for training."""
    if not chat:
        return tokenizer(prompt, return_tensors="pt")
    return tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                         return_tensors="pt", return_dict=True)


def end_of_turn_id(tokenizer) -> int | None:
    """The special token the chat template closes an assistant turn with (ChatML's
    `<|im_end|>`, Llama 3's `<|eot_id|>`): the first token after a rendered answer."""
    answer = "Answer."
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Question?"}, {"role": "assistant", "content": answer}], tokenize=False)
    after = rendered[rendered.rindex(answer) + len(answer):]
    ids = tokenizer(after, add_special_tokens=False)["input_ids"] if after else []
    token = tokenizer.added_tokens_decoder.get(ids[0]) if ids else None
    return ids[0] if token is not None and token.special else None


def decoding(config: RunConfig, tokenizer, chat: bool = False) -> dict:
    """`generate()`'s decoding arguments for the config: greedy, or sampling at a temperature;
    the KV cache on, the tokenizer's EOS (`chat`: and the template's end-of-turn token) and padding."""
    eos = tokenizer.eos_token_id
    if chat and (turn_end := end_of_turn_id(tokenizer)) not in (None, eos):
        eos = [eos, turn_end]
    settings = dict(max_new_tokens=config.max_new_tokens, repetition_penalty=config.repetition_penalty,
                    do_sample=config.sampling, use_cache=True, eos_token_id=eos,
                    pad_token_id=tokenizer.pad_token_id)
    if config.sampling:
        settings["temperature"] = config.temperature
    return settings


def describe_decoding(config: RunConfig) -> str:
    """The decoding settings in words, for the run's log and the compare screen."""
    how = f"sampling at temperature {config.temperature:g}, seed {config.seed}" if config.sampling else "greedy"
    return f"{how}, repetition penalty {config.repetition_penalty:g}, up to {config.max_new_tokens} new tokens"


def generate_answer(
    model, tokenizer, config: RunConfig, stream: str, events: EventWriter, should_stop: Callable[[], bool],
    prompt: str | None = None, index: int = 0, chat: bool = False,
) -> str:
    """Answer `prompt` (default `config.prompt`), emitting `token` events (stream `base` or
    `tuned`) and a closing `generation` event, both with the prompt's `index`; returns the
    answer without the prompt (`chat`: asked as a chat turn, see prompt_inputs). A fast path
    that had to give way is said in a `log` event."""
    prompt = config.prompt if prompt is None else prompt
    inputs = prompt_inputs(tokenizer, prompt, chat).to(model.device)
    started = time.monotonic()
    new_tokens = answer_tokens(
        model, tokenizer, inputs, config,
        lambda text: events.emit("token", stream=stream, text=text, index=index), should_stop,
        on_note=lambda note: events.emit("log", level="info", message=note), chat=chat,
    )[0]
    text = tokenizer.decode(new_tokens, skip_special_tokens=True)
    asked = {"asked_as": ASKED_AS_CHAT} if chat else {}
    events.emit(
        "generation", stream=stream, prompt=prompt, index=index, text=text,
        new_tokens=int(new_tokens.shape[0]), seconds=round(time.monotonic() - started, 3), **asked,
    )
    return text


def answer_tokens(model, tokenizer, inputs, config: RunConfig, on_text: Callable[[str], None] | None = None,
                  should_stop: Callable[[], bool] = lambda: False, on_note: Callable[[str], None] = lambda note: None,
                  decode: str = "auto", chat: bool = False):
    """The new token ids of `model.generate` (one row per prompt row) with the config's
    decoding and the KV cache (`chat`: stopping at the end of the turn too); `on_text` gets
    the answer in word-sized pieces as it grows (one row only).

    `decode`: `auto` answers greedy single prompts on CUDA through
    tutor.engine.static_decode (the same tokens, 3.5 to 4 times as fast), the rest through
    `generate`; `static` takes that path on any device (CPU: without graphs; the tests' and
    the bench's check); `generate` never does. On CPU, `auto` keeps `generate`, the
    reference: the static path saves launch overhead, which a CPU does not have (the shipped
    tiny model, 40 tokens, warm, one thread: 0.95 s either way, the same tokens). If the
    static path fails, `on_note` hears why in one line and `generate` answers, streaming on
    from where the failed path stopped."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList, TextStreamer

    class EventStreamer(TextStreamer):
        """TextStreamer already cuts the output at word boundaries; pass it on, don't print."""

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                on_text(text)

    class StopWhenCancelled(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs) -> bool:
            return should_stop()

    streamer = EventStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True) if on_text else None
    settings = decoding(config, tokenizer, chat)
    prompt_length = inputs["input_ids"].shape[1]
    if config.sampling:
        torch.manual_seed(config.seed)
    with inference_layers(model), torch.inference_mode():
        if _static_path_applies(model, inputs, config, decode):
            streamed = []
            try:
                return _static_answer(model, inputs["input_ids"], settings, streamer, should_stop, streamed)
            except Exception as exc:  # whatever the fast path met, the learner still gets the answer
                on_note(f"fast answer path unavailable ({type(exc).__name__}: {' '.join(str(exc).split())[:200]}); "
                        "answering with model.generate (same tokens, slower)")
                if streamer:
                    streamer = _Resumed(streamer, len(streamed))
        output = model.generate(**inputs, **settings, streamer=streamer,
                                stopping_criteria=StoppingCriteriaList([StopWhenCancelled()]))
    return output[:, prompt_length:]


def _static_path_applies(model, inputs, config: RunConfig, decode: str) -> bool:
    if decode not in ("auto", "static", "generate"):
        raise ValueError(f"decode must be auto, static or generate, not {decode!r}")
    mask = inputs.get("attention_mask")
    one_unpadded_row = inputs["input_ids"].shape[0] == 1 and (mask is None or bool(mask.all()))
    if decode == "generate" or config.sampling or not one_unpadded_row:
        return False
    return decode == "static" or model.device.type == "cuda"


def _static_answer(model, input_ids, settings: dict, streamer, should_stop, streamed: list):
    """tutor.engine.static_decode's answer, streamed as `generate` streams (the prompt, then
    each token); `streamed` collects the tokens passed on, for a fallback to resume after."""
    from tutor.engine import static_decode

    def on_token(chosen):
        streamed.append(chosen)
        if streamer:
            streamer.put(chosen.cpu())

    if streamer:
        streamer.put(input_ids.cpu())
    tokens = static_decode.greedy_answer(model, input_ids, settings, graphs=input_ids.device.type == "cuda",
                                         on_token=on_token, should_stop=should_stop)
    if streamer:
        streamer.end()
    return tokens


class _Resumed:
    """A streamer for `generate` after a failed fast path: drops the prompt and the first
    `already` tokens, which the learner has seen (greedy: `generate` writes the same ones)."""

    def __init__(self, streamer, already: int):
        self.streamer, self.prompt_seen, self.skip = streamer, False, already

    def put(self, value) -> None:
        if not self.prompt_seen:
            self.prompt_seen = True
            return
        for token in value.reshape(-1, 1):
            if self.skip:
                self.skip -= 1
            else:
                self.streamer.put(token)

    def end(self) -> None:
        self.streamer.end()


@contextmanager
def inference_layers(model):
    """Eval mode, and the libraries' own forward for layers that fastlora rerouted; both
    put back afterwards, so training can go on where it was."""
    modes = {module: module.training for module in model.modules()}
    rerouted = [module for module in model.modules() if "_library_forward" in module.__dict__]
    fast = {module: module.__dict__["forward"] for module in rerouted}
    model.eval()
    for module in rerouted:
        module.forward = module._library_forward
    try:
        yield
    finally:
        for module in rerouted:
            module.forward = fast[module]
        for module, training in modes.items():
            module.training = training


def answer_prompts(model, tokenizer, prompts: list[str], config: RunConfig) -> list[str]:
    """Answers to several prompts, one at a time and without events, decoded as the lab
    decodes: what the tiny shape test measures tutor.engine.shape.count_shaped on."""
    return [
        tokenizer.decode(answer_tokens(model, tokenizer, tokenizer(prompt, return_tensors="pt").to(model.device), config)[0],
                         skip_special_tokens=True)
        for prompt in prompts
    ]
