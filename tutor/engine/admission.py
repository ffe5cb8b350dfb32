"""A job's turn on the machine: what it asks the GPU queue for, and the wait for it.

Runs in the job's child process before torch touches CUDA, because the GPU the queue
hands out is made the only visible one (`CUDA_VISIBLE_DEVICES`), and CUDA reads that
once, when it starts.
"""

from __future__ import annotations

import os
from typing import Callable

from tutor.engine.config import RunConfig
from tutor.engine.gpu_queue import Decision, GpuQueue, Ticket, memory_cap, visible_gpus

GPU_BATCH = 8  # batch_size = auto starts here on a GPU (tutor.engine.training.train)


def job_peak_bytes(config: RunConfig, kind: str) -> int | None:
    """The GPU memory a job of `kind` asks for: the engine's estimate plus the headroom every
    verdict uses (`memory.required_bytes`), or
    None when the model's size is unknown (then it asks for a whole GPU)."""
    from tutor.engine import memory
    from tutor.engine.models import estimated_params, resolve_model, shape_of

    try:
        source = resolve_model(config.model, build_tiny=False)
    except Exception:
        return None
    params = estimated_params(source)
    shape = shape_of(source)
    if not params or shape is None:
        return None
    method = "qlora" if config.load_in_4bit else "lora"
    if kind == "train":
        batch = GPU_BATCH if config.batch_size == "auto" else int(config.batch_size)
        targets = "all-linear" if config.target_modules == "all-linear" else "attention"
        bill = memory.estimate(params, method, shape, rank=config.lora_r, targets=targets, batch=batch,
                               seq_len=config.max_length, gradient_checkpointing=config.gradient_checkpointing)
        need = bill.total
    else:  # answering: the weights, and a short prompt's activations
        need = memory.estimate(params, method, shape, batch=1, seq_len=config.max_length).weights
    return int(memory.required_bytes(need))


def wait_for_turn(config: RunConfig, kind: str, label: str, emit: Callable[..., object],
                  should_stop: Callable[[], bool], queue: GpuQueue | None = None) -> Ticket | None:
    """Queue for a GPU (or a CPU slot), telling `emit` where the job stands; None if cancelled.

    The ticket lives as long as this process: the queue drops it when the process ends.
    """
    queue = queue or GpuQueue()
    gpus = [] if config.device == "cpu" else visible_gpus(memory_cap())
    if gpus:
        need = job_peak_bytes(config, kind)
        need = need if need is not None else max(g.total for g in gpus)
        ticket = queue.join(need, gpus=1, label=label)
    else:
        ticket = queue.join(0, gpus=0, label=label)

    def on_wait(decision: Decision) -> None:
        emit("queue", position=decision.position, reason=decision.reason, need_bytes=ticket.need_bytes,
             admitted=None)

    admitted = queue.wait(ticket, on_wait=on_wait, should_stop=should_stop)
    if admitted is None:
        return None
    if admitted.admitted:
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(index) for index in admitted.admitted)
    emit("queue", position=0, reason="", need_bytes=admitted.need_bytes, admitted=list(admitted.admitted))
    return admitted
