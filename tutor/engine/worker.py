"""The job's child process: `python -m tutor.engine.worker RUN_DIR`.

Reads config.toml and job.json from the run folder, runs the job kind, and reports
everything as events. It never lets an exception escape: a LabError becomes an `error`
event with its hint, anything else an `error` event whose traceback goes to run.log. The
last event is always `end` (unless the process is SIGKILLed; readers then see `lost`).

Signals: SIGINT asks for a clean stop (finish the step, save the adapter); SIGTERM stops
now, after writing `end`.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import traceback
from pathlib import Path

from tutor.engine.config import LabError, RunConfig
from tutor.engine.events import EventWriter
from tutor.engine.jobs import ADAPTER_DIR, CONFIG_FILE, read_job


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
    _install_signal_handlers(events, cancel)
    status = run_job(run_dir, events, cancel)
    events.emit("end", status=status)
    events.close()
    return {"finished": 0, "cancelled": 130}.get(status, 1)


def run_job(run_dir: Path, events: EventWriter, cancel: CancelFlag) -> str:
    """Run the job in `run_dir`; return its end status. Every failure becomes an event."""
    config = None
    try:
        kind = read_job(run_dir)["kind"]
        config = RunConfig.load(run_dir / CONFIG_FILE).check()
        JOBS[kind](config, run_dir, events, cancel)
        events.emit("phase", phase="done", message=None)
        return "cancelled" if cancel.is_set() else "finished"
    except Cancelled:
        events.emit("warning", message="cancelled before training started: nothing was saved")
        return "cancelled"
    except LabError as exc:
        events.emit("error", error_type=type(exc).__name__, message=str(exc), hint=exc.hint)
    except Exception as exc:  # the job must end with an event, whatever went wrong
        traceback.print_exc()
        if type(exc).__name__ == "OutOfMemoryError" and config is not None:
            from tutor.engine.models import oom_error

            friendly = oom_error(config)
            events.emit("error", error_type="OutOfMemoryError", message=str(friendly), hint=friendly.hint)
        else:
            message = str(exc).splitlines()[0][:500] if str(exc) else type(exc).__name__
            events.emit("error", error_type=type(exc).__name__, message=message,
                        hint=f"This looks like a bug or an unsupported setup; the traceback is in {run_dir / 'run.log'}")
    return "failed"


def run_train(config: RunConfig, run_dir: Path, events: EventWriter, cancel: CancelFlag) -> None:
    """Load 4-bit -> baseline answer -> train -> save -> reload the adapter -> answer again."""
    from tutor.engine.data import load_training_data
    from tutor.engine.generate import generate_answer
    from tutor.engine.models import load_adapter_model
    from tutor.engine.presets import detect_targets
    from tutor.engine.training.train import train_adapter

    events.emit("phase", phase="loading", message=f"dataset {config.dataset}")
    dataset = load_training_data(config)  # cheap and a common mistake: fail before the model loads
    model, tokenizer, device, dtype = _load_model(config, events, for_training=True)
    targets = detect_targets(model, config.target_module_spec())
    cancel.check()
    events.emit("phase", phase="baseline", message="the base model answers before training")
    model.config.use_cache = True
    generate_answer(model, tokenizer, config, "base", events, cancel.is_set)
    model.config.use_cache = False
    cancel.check()
    summary = train_adapter(model, tokenizer, dataset, config, targets, run_dir, device, dtype, events, cancel.is_set)
    if summary["cancelled"]:
        return
    del model
    _free_memory()
    events.emit("phase", phase="reloading", message="loading the base again with the saved adapter")
    tuned = load_adapter_model(run_dir / ADAPTER_DIR, config, device, dtype)
    events.emit("phase", phase="generating", message="the tuned model answers the same prompt")
    generate_answer(tuned, tokenizer, config, "tuned", events, cancel.is_set)


def run_generate(config: RunConfig, run_dir: Path, events: EventWriter, cancel: CancelFlag) -> None:
    """The model (with `config.adapter` if given) answers `config.prompt`."""
    from tutor.engine.generate import generate_answer

    model, tokenizer, _, _ = _load_model(config, events, for_training=False)
    events.emit("phase", phase="generating", message=None)
    generate_answer(model, tokenizer, config, "tuned" if config.adapter else "base", events, cancel.is_set)


def run_compare(config: RunConfig, run_dir: Path, events: EventWriter, cancel: CancelFlag) -> None:
    """Base (adapter switched off) and tuned answer the same prompt, from one loaded model."""
    from tutor.engine.generate import generate_answer

    if not config.adapter:
        raise LabError("compare needs an adapter", "Set adapter (--adapter) to the adapter/ folder of a train run.")
    model, tokenizer, _, _ = _load_model(config, events, for_training=False)
    events.emit("phase", phase="generating", message="base model, adapter switched off")
    with model.disable_adapter():
        generate_answer(model, tokenizer, config, "base", events, cancel.is_set)
    cancel.check()
    events.emit("phase", phase="generating", message="with the adapter")
    generate_answer(model, tokenizer, config, "tuned", events, cancel.is_set)


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
        tokenizer = models.load_tokenizer(source.location)
    else:
        model, tokenizer = models.load_base(config, source, device, dtype, for_training)
    events.emit("model", **models.model_facts(model, source, device, config.load_in_4bit))
    return model, tokenizer, device, dtype


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _install_signal_handlers(events: EventWriter, cancel: CancelFlag) -> None:
    def on_sigint(signum, frame):
        if not cancel.is_set():
            cancel.set()
            events.emit("log", level="info", message="cancel requested: stopping after the current step")

    def on_sigterm(signum, frame):
        events.emit("warning", message="terminated: stopped without finishing the current step")
        events.emit("end", status="cancelled")
        events.close()
        os._exit(143)

    signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
