"""A fake job runner: a thread writes the events a real job would, in a fraction of the time.

It implements the `JobRunner` and `JobHandle` Protocols of `tutor.engine.jobs` and writes the
same run folder (job.json, events.jsonl), so the UI cannot tell it from the child process.
Jobs live in a module-wide registry, so a second app in the same test re-attaches to them;
the `fake_jobs` fixture (conftest) empties it after each test.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from pathlib import Path

from tutor.engine import jobs
from tutor.engine.events import EVENTS_FILE, EventTail, EventWriter, RunStatus, read_all, status_of
from tutor.paths import runs_dir

_JOBS: dict[Path, FakeJob] = {}
PROMPT = "I want you to act as a motivation coach."
HELD_OUT_PROMPT = "I want you to act as a gardener."
ANSWERS = {
    "base": "I am a motivation coach and I coach coach coach",
    "tuned": "I want you to act as a motivation coach. My first request is to keep going.",
}


MODEL = dict(name="tiny", params=1_234_567, footprint_bytes=1_000_000, footprint_16bit_bytes=2_500_000,
             device="cpu", quantized=True, teaching=True, vocab_size=2048)


def progress(step: int, steps: int, step_s: float, gpu: dict | None = None) -> dict:
    """The fields of a `progress` event at `step` of `steps`, the loss falling."""
    return dict(step=step, total_steps=steps, epoch=step / 2, loss=round(3.0 * 0.95**step, 4),
                learning_rate=2e-4, grad_norm=1.0, tokens_per_s=1500.0, step_time_s=step_s,
                eta_s=(steps - step) * step_s, gpu=gpu)


class FakeJob(threading.Thread):
    """Writes one run's events. `hold` pauses it after a given step until released."""

    def __init__(self, run_dir: Path, kind: str, *, steps: int, step_s: float,
                 hold_after_step: int | None, fail_with: dict | None, gpu: dict | None) -> None:
        super().__init__(daemon=True)
        self.run_dir, self.kind = run_dir, kind
        self.steps, self.step_s, self.hold_after_step = steps, step_s, hold_after_step
        self.fail_with, self.gpu = fail_with, gpu
        self.released = threading.Event()
        self.cancelled = threading.Event()

    def run(self) -> None:
        out = EventWriter(self.run_dir)
        try:
            out.emit("phase", phase="loading", message="loading tiny in 4-bit")
            out.emit("model", **MODEL)
            if self.fail_with:
                out.emit("error", **self.fail_with)
                out.emit("end", status="failed")
                return
            if self.kind in ("train", "generate", "compare"):
                self._answer(out, "base", phase="baseline" if self.kind == "train" else "generating")
            if self.kind == "train":
                status = self._train(out)
                out.emit("end", status=status)
                return
            if self.kind == "compare":
                out.emit("phase", phase="reloading", message="AutoPeftModelForCausalLM")
                self._answer(out, "tuned", phase="generating")
                out.emit("prompts", prompts=[PROMPT, HELD_OUT_PROMPT], held_out=1, decoding="greedy, repetition penalty 1.5")
                for stream in ("base", "tuned"):
                    out.emit("generation", stream=stream, prompt=HELD_OUT_PROMPT, index=1, text=ANSWERS[stream],
                             new_tokens=12, seconds=0.1)
                out.emit("shape", total=1, base=0, tuned=1, base_runs=[[]], tuned_runs=[["my first request is"]])
            out.emit("phase", phase="done")
            out.emit("end", status="finished")
        finally:
            out.close()

    def _answer(self, out: EventWriter, stream: str, phase: str) -> None:
        out.emit("phase", phase=phase, message=f"{stream} answer")
        for word in ANSWERS[stream].split(" "):
            out.emit("token", stream=stream, text=word + " ")
            time.sleep(self.step_s / 4)
        out.emit("generation", stream=stream, prompt=PROMPT,
                 text=ANSWERS[stream] + " ", new_tokens=12, seconds=0.1)

    def _train(self, out: EventWriter) -> str:
        out.emit("phase", phase="training", message=f"{self.steps} steps")
        done = 0
        for step in range(1, self.steps + 1):
            if self.cancelled.is_set():
                break
            time.sleep(self.step_s)
            done = step
            out.emit("progress", **progress(step, self.steps, self.step_s, self.gpu))
            if step % 2 == 0:  # an epoch end: the held-out loss falls, then turns up after epoch 2
                eval_loss = round(3.1 * 0.95**step + 0.3 * max(step - 4, 0), 4)
                out.emit("eval", step=step, total_steps=self.steps, epoch=step / 2, eval_loss=eval_loss,
                         perplexity=round(math.exp(eval_loss), 2), best=step <= 4)
            if step == self.hold_after_step:
                self.released.wait(30)
        cancelled = self.cancelled.is_set()
        out.emit("phase", phase="saving", message="saving the adapter")
        out.emit("summary", global_step=done, recipe="notebook", train_loss=2.5, last_step_loss=round(3.0 * 0.95**done, 4),
                 eval_loss=None, eval_perplexity=None, train_runtime=done * self.step_s,
                 samples_per_s=1.0, steps_per_s=1.0, tokens_per_s=1500.0, epoch=done / 2,
                 adapter_dir=str(self.run_dir / "adapter"), cancelled=cancelled,
                 peak_gpu_bytes=None)
        (self.run_dir / "adapter").mkdir(exist_ok=True)
        (self.run_dir / "adapter" / "adapter_model.safetensors").write_bytes(b"\0" * 4096)
        (self.run_dir / "adapter" / "adapter_config.json").write_text("{}")
        if cancelled:
            return "cancelled"
        out.emit("phase", phase="reloading")
        self._answer(out, "tuned", phase="generating")
        out.emit("phase", phase="done")
        return "finished"


def new_fake_run_dir(kind: str, run_dir: Path | None = None) -> Path:
    """A run folder with the job.json a real start writes (no pid: no process to find)."""
    run_dir = run_dir or runs_dir() / f"{time.time_ns()}-{kind}"
    run_dir.mkdir(parents=True)
    jobs.write_job(run_dir, {"kind": kind, "argv": [], "started_at": time.time(), "pid": None})
    return run_dir


def write_dead_run(kind: str, events: list[dict]) -> Path:
    """A run folder whose process is gone: what a crash (or a kill -9) leaves behind."""
    run_dir = new_fake_run_dir(kind)
    (run_dir / EVENTS_FILE).write_text("".join(json.dumps(e) + "\n" for e in events))
    return run_dir


class FakeHandle:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.kind = jobs.read_job(run_dir)["kind"]
        self.pid = os.getpid()
        self.cancel_requests = 0

    def _job(self) -> FakeJob | None:
        return _JOBS.get(self.run_dir)

    def tail(self) -> EventTail:
        return EventTail(self.run_dir / EVENTS_FILE)

    def is_running(self) -> bool:
        job = self._job()
        return job is not None and job.is_alive()

    def wait(self, timeout: float) -> RunStatus:
        """Like ProcessHandle.wait: block until the job ends (or timeout); its status."""
        if job := self._job():
            job.join(timeout)
        return status_of(read_all(self.run_dir), self.is_running())

    def cancel(self) -> None:
        """Like SIGINT to the real job: it stops at its next step (a held job stays held)."""
        self.cancel_requests += 1
        if job := self._job():
            job.cancelled.set()


class FakeRunner:
    """Configured per test: how many steps, how fast, whether to pause or fail."""

    def __init__(self, *, steps: int = 8, step_s: float = 0.02, hold_after_step: int | None = None,
                 fail_with: dict | None = None, gpu: dict | None = None) -> None:
        self.options = dict(steps=steps, step_s=step_s, hold_after_step=hold_after_step,
                            fail_with=fail_with, gpu=gpu)
        self.started: list[tuple[str, object]] = []

    def start(self, kind: str, config, run_dir: Path | None = None) -> FakeHandle:
        self.started.append((kind, config))
        run_dir = new_fake_run_dir(kind, run_dir)
        job = FakeJob(run_dir, kind, **self.options)
        _JOBS[run_dir] = job
        job.start()
        return FakeHandle(run_dir)

    def attach(self, run_dir: Path) -> FakeHandle:
        return FakeHandle(Path(run_dir))

    def run_dirs(self) -> list[Path]:
        return jobs.run_dirs()

    @staticmethod
    def release_all() -> None:
        for job in _JOBS.values():
            job.released.set()


def forget_all_jobs() -> None:
    """Stop every fake job at its next step and empty the registry: no test sees another's."""
    for job in _JOBS.values():
        job.cancelled.set()
        job.released.set()
    _JOBS.clear()
