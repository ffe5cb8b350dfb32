"""The run-event contract: what a job writes into its run folder and every reader relies on.

One JSON object per line in `events.jsonl`, always with `type` and `t` (unix time). The
headless CLI, `qlora-tutor runs`, the TUI's run log and the lab panels all read this stream,
so a run can be watched live, re-attached to, or replayed. Each event type is one TypedDict
below; the writer refuses an event that does not match its type, and the reader skips such a
line with a warning instead of handing it on. `status_of` and `describe` are the only places
that turn events into a run's status or into words.

This module is written without `from __future__ import annotations`: the validator reads the
TypedDicts' annotations at run time.
"""

import json
import logging
import os
import sys
import time
import types
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal, TypedDict, Union, get_args, get_origin, get_type_hints, is_typeddict

from tutor.storage import inject_fault
from tutor.units import human_bytes, human_duration

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pragma: no cover
    from typing_extensions import NotRequired

EVENTS_FILE = "events.jsonl"
log = logging.getLogger(__name__)

Phase = Literal["loading", "quantizing", "tokenizing", "baseline", "training", "saving", "reloading",
                "generating", "done"]
Stream = Literal["base", "tuned"]
EndStatus = Literal["finished", "cancelled", "failed"]


class GpuMemory(TypedDict):
    allocated: int
    reserved: int
    max_allocated: int
    total: int


class _Event(TypedDict):
    t: float


class PhaseEvent(_Event):
    type: Literal["phase"]
    phase: Phase
    message: NotRequired[Union[str, None]]


class QueueEvent(_Event):
    """The job's place in the machine-wide GPU queue (tutor.engine.gpu_queue)."""

    type: Literal["queue"]
    position: int  # 1 = next in line; 0 once admitted
    reason: str  # what it waits for
    need_bytes: int
    admitted: Union[list, None]  # GPU indices once admitted ([] = a CPU slot); None while waiting


class ModelEvent(_Event):
    type: Literal["model"]
    name: str
    params: int
    footprint_bytes: int
    footprint_16bit_bytes: int
    device: str
    quantized: bool
    teaching: bool
    vocab_size: NotRequired[int]  # ln(vocab_size) is the loss of a uniform guess


class ProgressEvent(_Event):
    type: Literal["progress"]
    step: int
    total_steps: int
    epoch: float
    loss: float
    learning_rate: Union[float, None]
    grad_norm: Union[float, None]
    tokens_per_s: Union[float, None]
    step_time_s: Union[float, None]
    eta_s: Union[float, None]
    gpu: Union[GpuMemory, None]


class EvalEvent(_Event):
    """The loss on the held-out samples, at an epoch end (or every eval_steps steps)."""

    type: Literal["eval"]
    step: int
    total_steps: int
    epoch: float
    eval_loss: float
    perplexity: float  # exp(eval_loss)
    best: bool  # the lowest eval_loss of the run so far


class PromptsEvent(_Event):
    """What a compare job will ask: the lesson's prompt, then `held_out` prompts opened from
    the training run's held-out samples; how it decodes, in words."""

    type: Literal["prompts"]
    prompts: list
    held_out: int
    decoding: str
    asked_as: NotRequired[str]  # present when the prompts are asked as chat turns (tutor.engine.generate)


class TokenEvent(_Event):
    """A piece of generated text, as the streamer cut it."""

    type: Literal["token"]
    stream: Stream
    text: str
    index: NotRequired[int]  # which of the compare job's prompts


class GenerationEvent(_Event):
    """A finished answer."""

    type: Literal["generation"]
    stream: Stream
    prompt: str
    index: NotRequired[int]
    text: str
    new_tokens: int
    seconds: float
    asked_as: NotRequired[str]  # present when the prompt was asked as a chat turn (tutor.engine.generate)


class ShapeEvent(_Event):
    """How many of `total` held-out answers take the training data's shape
    (tutor.engine.shape), and the runs of words that did it, per answer."""

    type: Literal["shape"]
    total: int
    base: int
    tuned: int
    base_runs: list
    tuned_runs: list


class LogEvent(_Event):
    type: Literal["log"]
    message: str
    level: str


class WarningEvent(_Event):
    type: Literal["warning"]
    message: str


class SummaryEvent(_Event):
    type: Literal["summary"]
    global_step: int
    train_loss: float  # the mean over all steps, as transformers' TrainOutput.training_loss
    recipe: NotRequired[str]
    data_shape: NotRequired[str]  # text, prompt-completion or messages
    last_step_loss: NotRequired[Union[float, None]]
    eval_loss: NotRequired[Union[float, None]]  # the last evaluation's
    eval_perplexity: NotRequired[Union[float, None]]
    best_eval_loss: NotRequired[Union[float, None]]
    best_eval_step: NotRequired[Union[int, None]]
    best_eval_epoch: NotRequired[Union[float, None]]
    train_runtime: Union[float, None]
    samples_per_s: NotRequired[Union[float, None]]
    steps_per_s: NotRequired[Union[float, None]]
    tokens_per_s: NotRequired[Union[float, None]]
    epoch: float
    adapter_dir: str
    cancelled: bool
    peak_gpu_bytes: NotRequired[Union[int, None]]


class ErrorEvent(_Event):
    type: Literal["error"]
    error_type: str
    message: str
    hint: Union[str, None]


class EndEvent(_Event):
    type: Literal["end"]
    status: EndStatus


Event = Union[PhaseEvent, QueueEvent, ModelEvent, ProgressEvent, EvalEvent, PromptsEvent, TokenEvent, GenerationEvent,
              ShapeEvent, LogEvent, WarningEvent, SummaryEvent, ErrorEvent, EndEvent]
EVENT_TYPES: dict[str, type] = {get_args(get_type_hints(cls)["type"])[0]: cls for cls in get_args(Event)}
PHASES = frozenset(get_args(Phase))
END_STATUSES = frozenset(get_args(EndStatus))


class RunStatus(str, Enum):
    """Where a run stands; equal to (and hashed like) its plain string, as JSON and tables hold it."""

    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"
    LOST = "lost"  # the process is gone and never wrote `end` (killed, or the machine went down)

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return self.value


# The worker's and `qlora-tutor train`'s exit code per status (130: as a shell reports Ctrl-C).
EXIT_CODES = {RunStatus.FINISHED: 0, RunStatus.CANCELLED: 130}
FAILURE_EXIT_CODE = 1


def exit_code(status: RunStatus) -> int:
    return EXIT_CODES.get(status, FAILURE_EXIT_CODE)


def status_of(events: list[dict], alive: bool) -> RunStatus:
    """The run's status: its `end` event's if it wrote one, else running while the process
    lives, else lost.

    A job that got as far as its `done` phase but whose `end` line never made it to disk
    (killed right then, or the disk filled up) still counts as finished: everything it had
    to produce, the adapter included, was written before `done`.
    """
    for event in reversed(events):
        if event["type"] == "end":
            return RunStatus(event["status"])
    if alive:
        return RunStatus.RUNNING
    if any(event["type"] == "phase" and event["phase"] == "done" for event in events):
        summary = next((event for event in events if event["type"] == "summary"), None)
        return RunStatus.CANCELLED if summary and summary["cancelled"] else RunStatus.FINISHED
    return RunStatus.LOST


def invalid(event: Any) -> str | None:
    """Why `event` breaks the contract, or None if it keeps it."""
    if not isinstance(event, dict):
        return f"not an object: {event!r:.80}"
    definition = EVENT_TYPES.get(event.get("type"))
    if definition is None:
        return f"unknown event type {event.get('type')!r}"
    hints = get_type_hints(definition)
    missing = definition.__required_keys__ - event.keys()
    if missing:
        return f"{event['type']} event without {', '.join(sorted(missing))}"
    for name, value in event.items():
        if name in hints and not _matches(value, hints[name]):
            return f"{event['type']} event with {name}={value!r:.80}"
    return None


def _matches(value: Any, hint: Any) -> bool:
    origin = get_origin(hint)
    if origin is Literal:
        return value in get_args(hint)
    if origin in (Union, types.UnionType):
        return any(_matches(value, option) for option in get_args(hint))
    if hint is type(None):
        return value is None
    if isinstance(value, bool) and hint is not bool:
        return False
    if hint is float:
        return isinstance(value, (int, float))
    if is_typeddict(hint):
        return isinstance(value, dict)
    return isinstance(value, hint)


def describe(event: dict) -> str | None:
    """One plain line (or two, for an error's hint) in words; None for a token, which only
    makes sense inside its answer. Readers may style it by the event's type."""
    kind = event["type"]
    if kind == "phase":
        return f"▶ {event['phase']}" + (f"  {event['message']}" if event.get("message") else "")
    if kind == "queue":
        return _describe_queue(event)
    if kind == "model":
        return (f"model {event['name']}{' (teaching model)' if event['teaching'] else ''}: {event['params']:,} params, "
                f"{human_bytes(event['footprint_bytes'])} on {event['device']}{', 4-bit' if event['quantized'] else ''}")
    if kind == "progress":
        parts = [f"step {event['step']}/{event['total_steps']}", f"epoch {event['epoch']:.2f}", f"step loss {event['loss']:.4f}"]
        if event["learning_rate"] is not None:
            parts.append(f"lr {event['learning_rate']:.2e}")
        if event["tokens_per_s"]:
            parts.append(f"{event['tokens_per_s']:.0f} tok/s")
        if event["eta_s"] is not None:
            parts.append(f"eta {human_duration(event['eta_s'])}")
        return "  ".join(parts)
    if kind == "eval":
        best = "  (best so far)" if event["best"] else ""
        return (f"eval at step {event['step']} (epoch {event['epoch']:.2f}): held-out loss {event['eval_loss']:.4f}, "
                f"perplexity {event['perplexity']:,.1f}{best}")
    if kind == "prompts":
        return (f"{len(event['prompts'])} prompts: the lesson's and {event['held_out']} held out from training; "
                f"decoding: {event['decoding']}" + (f"; {event['asked_as']}" if event.get("asked_as") else ""))
    if kind == "generation":
        asked = f"prompt {event.get('index', 0) + 1}: {event['prompt']}\n" if event["stream"] == "base" else ""
        return f"{asked}[{event['stream']} answer] {event['text']}"
    if kind == "shape":
        return (f"answers that take the training data's shape: base {event['base']}/{event['total']}, "
                f"tuned {event['tuned']}/{event['total']}")
    if kind == "summary":
        return _describe_summary(event)
    if kind == "log":
        return event["message"]
    if kind == "warning":
        return f"warning: {event['message']}"
    if kind == "error":
        return f"error ({event['error_type']}): {event['message']}" + (f"\nhint: {event['hint']}" if event["hint"] else "")
    if kind == "end":
        return f"■ run {event['status']}"
    return None


def _describe_queue(event: dict) -> str:
    if event["admitted"] is None:
        return f"waiting for its turn: number {event['position']} in line, for {event['reason']}"
    if not event["admitted"]:
        return "its turn: a CPU job slot"
    gpus = ", ".join(str(index) for index in event["admitted"])
    return f"its turn: GPU {gpus}, {human_bytes(event['need_bytes'])} reserved"


def _describe_summary(event: dict) -> str:
    line = f"{event['global_step']} steps, {loss_figures(event)}, {human_duration(event['train_runtime'])}"
    line += f"; adapter saved to {event['adapter_dir']}"
    if event["cancelled"]:
        return f"cancelled after {line} (the adapter holds what was trained so far)"
    return f"trained {line}"


def loss_figures(summary: dict) -> str:
    """The run's losses, each named: the mean over all training steps, and the held-out
    loss and perplexity of the last evaluation (when the run evaluated)."""
    text = f"mean train loss {summary['train_loss']:.4f}"
    if summary.get("eval_loss") is not None:
        text += f", eval loss {summary['eval_loss']:.4f}, eval perplexity {summary['eval_perplexity']:,.1f}"
    best = summary.get("best_eval_loss")
    if best is not None and best < summary["eval_loss"]:  # it turned up: the sign of overfitting
        text += f" (lowest: {best:.4f} at epoch {summary['best_eval_epoch']:g})"
    return text


class EventWriter:
    """Appends events to a run folder's stream; each line is flushed so readers see it now."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / EVENTS_FILE
        self._file = open(self.path, "a", encoding="utf-8")

    def emit(self, type_: str, **fields: Any) -> dict:
        """Write one event; an event that breaks the contract is a bug here, so it raises."""
        event = {"type": type_, "t": round(time.time(), 3), **fields}
        if problem := invalid(event):
            raise ValueError(f"invalid event: {problem}")
        inject_fault("events", self.path)
        self._file.write(json.dumps(event) + "\n")
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
    A line that is not a valid event is skipped with a logged warning. Starting at offset 0
    replays the whole run (re-attach).
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
        except OSError as exc:  # a folder in its place, no permission: this run shows no events
            log.warning("%s: cannot read the events (%s)", self.path, exc.strerror)
            return []
        self.offset += len(chunk)
        lines = (self._pending + chunk).split(b"\n")
        self._pending = lines.pop()
        return [event for line in lines if line.strip() and (event := self._parse(line)) is not None]

    def _parse(self, line: bytes) -> dict | None:
        try:
            event = json.loads(line)
        except ValueError:
            problem = f"not JSON: {line[:80]!r}"
        else:
            if (problem := invalid(event)) is None:
                return event
        log.warning("%s: skipped a line that is not a valid event (%s)", self.path, problem)
        return None


def read_all(run_dir: Path) -> list[dict]:
    return EventTail(Path(run_dir) / EVENTS_FILE).read()
