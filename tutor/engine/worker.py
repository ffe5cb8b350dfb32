"""The job's child process: `python -m tutor.engine.worker RUN_DIR`.

Reads config.toml and job.json from the run folder, runs the job kind, and reports
everything as events. It never lets an exception escape: a LabError becomes an `error`
event with its hint, anything else an `error` event whose traceback goes to run.log. The
last event is always `end` (unless the process is SIGKILLed; readers then see `lost`).

Signals: SIGINT asks for a clean stop (finish the step, save the adapter); SIGTERM stops
now, after writing `end`, and says whether an adapter is on disk. A SIGTERM that lands while
the adapter is being written lets that save finish first; the adapter folder appears whole
(renamed from a staging folder) or not at all, whatever signal arrives.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import traceback
from pathlib import Path

from tutor.engine.admission import wait_for_turn
from tutor.engine.config import RunConfig
from tutor.engine.errors import LabError, first_line
from tutor.engine.events import EventWriter, RunStatus, exit_code
from tutor.engine.jobs import ADAPTER_DIR, CONFIG_FILE, read_job
from tutor.storage import describe, filling_a_folder


MAX_HELD_OUT_PROMPTS = 10  # each costs a base and a tuned answer


class Cancelled(Exception):
    """Raised between phases once a cancel was asked for."""


class CancelFlag:
    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self.is_set():
            raise Cancelled()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tutor.engine.worker RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(argv[0])
    events = EventWriter(run_dir)
    cancel = CancelFlag()
    _install_signal_handlers(run_dir, events, cancel)
    try:
        status = run_job(run_dir, events, cancel)
        events.emit("end", status=status)
        events.close()
    except OSError as exc:  # not even an event fits on the disk: readers see the run lost, and why
        print(f"cannot write the events: {describe(exc)}", file=sys.stderr)
        return exit_code(RunStatus.FAILED)
    return exit_code(status)


def run_job(run_dir: Path, events: EventWriter, cancel: CancelFlag) -> RunStatus:
    """Run the job in `run_dir`; return its end status. Every failure becomes an event."""
    config = None
    try:
        kind = read_job(run_dir)["kind"]
        config = RunConfig.load(run_dir / CONFIG_FILE).check()
        if wait_for_turn(config, kind, str(run_dir), events.emit, cancel.is_set) is None:
            events.emit("warning", message="cancelled while waiting for its turn: nothing ran")
            return RunStatus.CANCELLED
        JOBS[kind](config, run_dir, events, cancel)
        events.emit("phase", phase="done", message=None)
        return RunStatus.CANCELLED if cancel.is_set() else RunStatus.FINISHED
    except Cancelled:
        events.emit("warning", message="cancelled before training started: nothing was saved")
        return RunStatus.CANCELLED
    except LabError as exc:
        events.emit("error", error_type=type(exc).__name__, message=str(exc), hint=exc.hint)
    except OSError as exc:  # the disk is full or read-only: the learner can fix that
        traceback.print_exc()
        events.emit("error", error_type=type(exc).__name__, message=describe(exc),
                    hint=f"Free some space on the disk holding {run_dir}, or choose another --output folder.")
    except Exception as exc:  # the job must end with an event, whatever went wrong
        traceback.print_exc()
        if type(exc).__name__ == "OutOfMemoryError" and config is not None:
            from tutor.engine.models import oom_error

            friendly = oom_error(config)
            events.emit("error", error_type="OutOfMemoryError", message=str(friendly), hint=friendly.hint)
        else:
            message = first_line(exc, limit=500)
            events.emit("error", error_type=type(exc).__name__, message=message,
                        hint=f"This looks like a bug or an unsupported setup; the traceback is in {run_dir / 'run.log'}")
    return RunStatus.FAILED


def run_train(config: RunConfig, run_dir: Path, events: EventWriter, cancel: CancelFlag) -> None:
    """Load 4-bit -> baseline answer -> train -> save -> reload the adapter -> answer again.

    With gpus > 1 only the training runs in several processes (training.distributed says why).
    """
    from tutor.engine.data import load_training_data, split_held_out
    from tutor.engine.generate import generate_answer
    from tutor.engine.models import count_params, load_adapter_model, load_tokenizer, pick_device
    from tutor.engine.presets import check_rank, detect_targets
    from tutor.engine.recipes import changed_from_recipe, fit_to_model_size
    from tutor.engine.training.distributed import check_launchable, train_in_processes
    from tutor.engine.training.train import train_adapter

    if config.gpus > 1:
        check_launchable(config, pick_device(config))
    events.emit("phase", phase="loading", message=f"dataset {config.dataset}")
    # cheap and a common mistake: fail before the model loads
    dataset, held_out = split_held_out(load_training_data(config), config)
    model, tokenizer, device, dtype = _load_model(config, events, for_training=True)
    changed = ", ".join(f"{name} {value}" for name, value in changed_from_recipe(config).items())
    events.emit("log", level="info", message=f"recipe {config.recipe}" + (f", changed by hand: {changed}" if changed else ""))
    if note := fit_to_model_size(config, count_params(model)):
        events.emit("log", level="info", message=note)
    targets = detect_targets(model, config.target_module_spec())
    check_rank(config.lora_r, model, targets)
    cancel.check()
    chat = _ask_as_trained(model, tokenizer, config, dataset, events)
    events.emit("phase", phase="baseline", message="the base model answers before training")
    generate_answer(model, tokenizer, config, "base", events, cancel.is_set, chat=chat)  # with its KV cache, whatever the flags
    cancel.check()
    if config.gpus > 1:  # the processes load their own copies: this one leaves them the memory
        del model
        _free_memory()
        summary = train_in_processes(config, run_dir, events, cancel.is_set)
    else:
        summary = train_adapter(model, tokenizer, dataset, held_out, config, targets, run_dir, device, dtype,
                                events, cancel.is_set)
        del model
    if summary["cancelled"] or cancel.is_set():  # cancel.is_set(): a SIGTERM waited for the save
        return
    _free_memory()
    events.emit("phase", phase="reloading", message="loading the base again with the saved adapter")
    tuned = load_adapter_model(run_dir / ADAPTER_DIR, config, device, dtype)
    events.emit("phase", phase="generating", message="the tuned model answers the same prompt")
    generate_answer(tuned, load_tokenizer(str(run_dir / ADAPTER_DIR)), config, "tuned", events, cancel.is_set,
                    chat=chat)


def _ask_as_trained(model, tokenizer, config: RunConfig, dataset, events: EventWriter) -> bool:
    """Whether the answers are asked as chat turns: after training on conversations they are,
    through the chat template the trainer will use (set on `tokenizer` now, so the base model
    is asked exactly as the tuned one will be); said in one line of the log."""
    from tutor.engine.generate import ASKED_AS_CHAT
    from tutor.engine.sft_data import is_conversational
    from tutor.engine.training.train import with_chat_template

    if not is_conversational(dataset[0]):
        return False
    with_chat_template(model, tokenizer, config.model, dataset)
    events.emit("log", level="info", message=ASKED_AS_CHAT)
    return True


def run_generate(config: RunConfig, run_dir: Path, events: EventWriter, cancel: CancelFlag) -> None:
    """The model (with `config.adapter` if given) answers `config.prompt`, as the adapter was trained."""
    from tutor.engine.generate import ASKED_AS_CHAT, generate_answer

    model, tokenizer, _, _ = _load_model(config, events, for_training=False)
    if chat := _adapter_trained_on_chat(config):
        events.emit("log", level="info", message=ASKED_AS_CHAT)
    events.emit("phase", phase="generating", message=None)
    generate_answer(model, tokenizer, config, "tuned" if config.adapter else "base", events, cancel.is_set, chat=chat)


def run_compare(config: RunConfig, run_dir: Path, events: EventWriter, cancel: CancelFlag) -> None:
    """Base (adapter switched off) and tuned answer the lesson's prompt and then the training
    run's held-out prompts, from one loaded model; then, over the held-out prompts, how many
    answers of each take the training data's shape (tutor.engine.shape)."""
    from tutor.engine.generate import ASKED_AS_CHAT, describe_decoding, generate_answer
    from tutor.engine.shape import count_shaped, opening

    if not config.adapter:
        raise LabError("compare needs an adapter", "Set adapter (--adapter) to the adapter/ folder of a train run.")
    train_texts, held_out = _training_split(Path(config.adapter).expanduser(), events)
    prompts = [config.prompt] + [opening(text) for text in held_out[:MAX_HELD_OUT_PROMPTS]]
    chat = _adapter_trained_on_chat(config)
    events.emit("prompts", prompts=prompts, held_out=len(prompts) - 1, decoding=describe_decoding(config),
                **({"asked_as": ASKED_AS_CHAT} if chat else {}))
    model, tokenizer, _, _ = _load_model(config, events, for_training=False)
    answers: dict[str, list[str]] = {"base": [], "tuned": []}
    for index, prompt in enumerate(prompts):
        if cancel.is_set():
            return
        events.emit("phase", phase="generating", message=f"prompt {index + 1} of {len(prompts)}: base, then tuned")
        with model.disable_adapter():
            answers["base"].append(generate_answer(model, tokenizer, config, "base", events, cancel.is_set, prompt, index,
                                                   chat))
        answers["tuned"].append(generate_answer(model, tokenizer, config, "tuned", events, cancel.is_set, prompt, index,
                                                chat))
    if len(prompts) > 1:
        counts = {stream: count_shaped(train_texts, prompts[1:], said[1:]) for stream, said in answers.items()}
        events.emit("shape", total=len(prompts) - 1, base=counts["base"].shaped, tuned=counts["tuned"].shaped,
                    base_runs=counts["base"].runs, tuned_runs=counts["tuned"].runs)


def _adapter_trained_on_chat(config: RunConfig) -> bool:
    """Answers with `config.adapter` are asked as chat turns, through the template its folder's
    tokenizer was saved with, when its run trained on conversations (the folder says so)."""
    from tutor.engine.generate import trained_on_chat

    return bool(config.adapter) and trained_on_chat(Path(config.adapter).expanduser())


def _training_split(adapter: Path, events: EventWriter) -> tuple[list[str], list[str]]:
    """(training texts, held-out texts) of the lab run that saved `adapter`, from its config;
    both empty for an adapter from elsewhere, or when that run's data no longer loads."""
    from tutor.engine.data import held_out_texts

    config_file = adapter.parent / CONFIG_FILE
    if not config_file.is_file():
        return [], []
    try:
        return held_out_texts(RunConfig.load(config_file))
    except LabError as exc:
        events.emit("warning", message=f"only the lesson's prompt: the training run's data did not load ({exc})")
        return [], []


JOBS = {"train": run_train, "generate": run_generate, "compare": run_compare}


def _load_model(config: RunConfig, events: EventWriter, for_training: bool):
    """(model, tokenizer, device, dtype): the base, or base + adapter when config.adapter is set."""
    import torch
    from transformers import set_seed

    from tutor.engine import models

    set_seed(config.seed)
    device = models.pick_device(config)
    dtype, warning = models.pick_compute_dtype(config, device)
    if warning:
        events.emit("warning", message=warning)
    adapter = Path(config.adapter).expanduser() if config.adapter and not for_training else None
    name = models.adapter_base_location(adapter) if adapter else config.model
    events.emit("phase", phase="loading", message=f"model {name}")
    source = models.resolve_model(name)
    if source.teaching and device == "cpu":
        torch.set_num_threads(1)  # its matrices are too small to gain from threads
    if config.load_in_4bit:
        events.emit("phase", phase="quantizing",
                    message=f"{config.quant_type.upper()}, double quantization {'on' if config.double_quant else 'off'}, compute {dtype}")
    if adapter:
        models.check_fits_device(source, device)
        model = models.load_adapter_model(adapter, config, device, dtype)
        # The adapter's own tokenizer: training on conversations may have added tokens to it.
        tokenizer = models.load_tokenizer(str(adapter if (adapter / "tokenizer_config.json").is_file() else source.location))
    else:
        model, tokenizer = models.load_base(config, source, device, dtype, for_training)
    events.emit("model", **models.model_facts(model, source, device, config.load_in_4bit))
    return model, tokenizer, device, dtype


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _install_signal_handlers(run_dir: Path, events: EventWriter, cancel: CancelFlag) -> None:
    def on_sigint(signum, frame):
        if not cancel.is_set():
            cancel.set()
            events.emit("log", level="info", message="cancel requested: stopping after the current step")

    def on_sigterm(signum, frame):
        if filling_a_folder():  # half a second more gives a whole adapter instead of none
            cancel.set()
            events.emit("log", level="info", message="terminate requested: stopping once the adapter is saved")
            return
        saved = (run_dir / ADAPTER_DIR / "adapter_config.json").exists()
        try:
            events.emit("warning", message="terminated: stopped at once; " + (
                f"the adapter in {run_dir / ADAPTER_DIR} was saved before and is complete" if saved else
                "nothing was saved (Ctrl-C or cancel stops after the step and saves the adapter)"))
            events.emit("end", status=RunStatus.CANCELLED)
            events.close()
        finally:
            os._exit(143)

    signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
