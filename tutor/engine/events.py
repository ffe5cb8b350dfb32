"""The JSON-lines event stream a job writes into its run folder, and the tail that reads it.

One event per line, always with `type` and `t` (unix time). The UI and the headless CLI
both read this stream, so a run can be watched live, re-attached to, or replayed.

Event types and their fields (all optional fields may be null):
    phase       phase: loading | quantizing | tokenizing | baseline | training | saving |
                       reloading | generating | done;  message
    model       name, params, footprint_bytes, footprint_16bit_bytes, device, quantized, teaching,
                vocab_size  (ln(vocab_size) is the loss of a uniform guess)
    progress    step, total_steps, epoch, loss, learning_rate, grad_norm, tokens_per_s,
                step_time_s, eta_s, gpu: {allocated, reserved, max_allocated, total} | null
    eval        step, total_steps, epoch, eval_loss, perplexity (exp(eval_loss)), best
                (the loss on the held-out samples; best: the lowest so far)
    prompts     prompts, held_out, decoding  (compare: the prompts it will answer, the first
                the lesson's own and `held_out` more from the training run's held-out
                samples; the decoding settings in words)
    token       stream: base | tuned, text, index   (a piece of generated text; index: which prompt)
    generation  stream, prompt, index, text, new_tokens, seconds  (a finished answer)
    shape       total, base, tuned, base_runs, tuned_runs  (compare: how many of the `total`
                held-out answers take the training data's shape, tutor.engine.shape; the
                runs of words that did it, per answer)
    log         message, level
    warning     message
    summary     global_step, recipe, train_loss (the mean over all steps), last_step_loss,
                eval_loss, eval_perplexity (the last evaluation), best_eval_loss, best_eval_step,
                best_eval_epoch, train_runtime, samples_per_s, steps_per_s, tokens_per_s,
                epoch, adapter_dir, cancelled, peak_gpu_bytes
    error       error_type, message, hint
    end         status: finished | cancelled | failed
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EVENTS_FILE = "events.jsonl"
EVENT_TYPES = frozenset(
    {"phase", "model", "progress", "eval", "prompts", "token", "generation", "shape", "log", "warning",
     "summary", "error", "end"}
)
END_STATUSES = frozenset({"finished", "cancelled", "failed"})


class EventWriter:
    """Appends events to a run folder's stream; each line is flushed so readers see it now."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / EVENTS_FILE
        self._file = open(self.path, "a", encoding="utf-8")

    def emit(self, type_: str, **fields: Any) -> dict:
        if type_ not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type_!r}")
        event = {"type": type_, "t": round(time.time(), 3), **fields}
        self._file.write(json.dumps(event, default=str) + "\n")
        self._file.flush()
        return event

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


@dataclass
class EventTail:
    """Reads new complete lines from an events file, remembering where it stopped.

    A half-written last line is left for the next read, so a reader never sees a torn event.
    Starting at offset 0 replays the whole run (re-attach).
    """

    path: Path
    offset: int = 0
    _pending: bytes = field(default=b"", repr=False)

    def read(self) -> list[dict]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()
        events = []
        for line in lines:
            if line.strip():
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return events


def read_all(run_dir: Path) -> list[dict]:
    return EventTail(Path(run_dir) / EVENTS_FILE).read()


def loss_figures(summary: dict) -> str:
    """The run's losses, each named: the mean over all training steps, and the held-out
    loss and perplexity of the last evaluation (when the run evaluated)."""
    text = f"mean train loss {summary['train_loss']:.4f}"
    if summary.get("eval_loss") is not None:
        text += f", eval loss {summary['eval_loss']:.4f}, eval perplexity {summary['eval_perplexity']:,.1f}"
    return text
