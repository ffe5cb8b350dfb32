"""Training on several GPUs: `accelerate launch`, data parallel (DDP) or FSDP-QLoRA.

Why the worker launches only the training phase: the worker stays the one detached job the
lab knows (its queue ticket, its signals, its `end` event), and it keeps doing what one
process does best, answering the prompt before and after. For `gpus > 1` it starts
`accelerate launch -m tutor.engine.training.distributed RUN_DIR`; accelerate and the
Trainer do all the distribution (process group, gradient all-reduce, FSDP sharding). Each
process trains the same way a single-process run does (`train.train_adapter`); only rank 0
appends events to the run's stream (appends of whole lines, so they interleave safely with
the worker's) and writes the adapter.

Cancel: the worker touches `stop-requested` in the run folder; every process checks for it
after each step and the processes agree through one all-reduce, so they all stop at the
same step (a process that stopped alone would leave the others waiting forever). The
launcher runs in its own session, out of reach of the lab's SIGINT to the worker's group,
and gets SIGTERM when the worker dies (Linux's parent-death signal), which ends the ranks.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Callable

from tutor.engine.config import RunConfig
from tutor.engine.errors import LabError
from tutor.engine.events import EVENTS_FILE, EventTail, EventWriter

STOP_FILE = "stop-requested"
LAUNCH_CONFIG = "launch-config.toml"  # the config as the worker runs it (a recipe may have adapted it)
POLL_S = 0.5  # how often the worker looks at its cancel flag while the processes train

# peft 0.21.2 docs, "Use PEFT QLoRA and FSDP" (examples/sft/configs/fsdp_config_qlora.yaml), as
# accelerate launch options. One change: fsdp_offload_params is off. The guide offloads to CPU
# to fit a 70B model on 2x24 GB; sharding alone already divides the weights by the GPU count.
FSDP_QLORA_OPTIONS = {
    "fsdp_version": "1",
    "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
    "fsdp_backward_prefetch": "BACKWARD_PRE",
    "fsdp_cpu_ram_efficient_loading": "true",
    "fsdp_forward_prefetch": "false",
    "fsdp_offload_params": "false",
    "fsdp_sharding_strategy": "FULL_SHARD",
    "fsdp_state_dict_type": "SHARDED_STATE_DICT",
    "fsdp_sync_module_states": "true",
    "fsdp_use_orig_params": "false",
}


def launch_command(config: RunConfig, run_dir: Path, port: int) -> list[str]:
    """The `accelerate launch` command line of a run with `config.gpus` processes."""
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(config.gpus),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(port)]
    if config.fsdp:
        command.append("--use_fsdp")
        for option, value in FSDP_QLORA_OPTIONS.items():
            command += [f"--{option}", value]
    else:
        command.append("--multi_gpu")  # torch.distributed's launcher; on CPU the Trainer picks gloo
    return command + ["-m", __name__, str(run_dir)]


def process_environment(config: RunConfig) -> dict[str, str]:
    """The processes' environment. With device = cpu they see no GPU, so every library in them
    (accelerate, bitsandbytes, the GPU gauges) takes its CPU path, as on a machine without one."""
    env = dict(os.environ)
    if config.device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


def check_launchable(config: RunConfig, device: str) -> None:
    """Refuse, in one line, a multi-process run this machine cannot do."""
    if device == "cpu" and config.device != "cpu":
        raise LabError(f"gpus = {config.gpus} asks for {config.gpus} GPUs, but no CUDA GPU is visible",
                       "Set gpus to 1, or device = cpu to run that many CPU processes (slow; it tests the launch).")
    if config.fsdp and device == "cpu":
        raise LabError("FSDP-QLoRA shards 4-bit weights across CUDA GPUs; it does not run on CPU",
                       "Turn fsdp off, or run on a machine with several GPUs.")


def train_in_processes(config: RunConfig, run_dir: Path, events: EventWriter,
                       should_stop: Callable[[], bool]) -> dict:
    """Run the training phase under `accelerate launch`; return rank 0's `summary` fields."""
    way = "FSDP-QLoRA, weights sharded" if config.fsdp else "data parallel, one model copy each"
    events.emit("log", level="info", message=f"accelerate launch: {config.gpus} processes ({way})")
    stop = run_dir / STOP_FILE
    config.save(run_dir / LAUNCH_CONFIG)
    process = subprocess.Popen(launch_command(config, run_dir, _free_port()), start_new_session=True,
                               preexec_fn=_terminate_with_parent, cwd=run_dir, env=process_environment(config))
    while process.poll() is None:
        if should_stop() and not stop.exists():
            stop.touch()
        try:
            process.wait(timeout=POLL_S)
        except subprocess.TimeoutExpired:
            pass
    summaries = [event for event in EventTail(run_dir / EVENTS_FILE).read() if event["type"] == "summary"]
    if process.returncode != 0 or not summaries:
        raise LabError(f"training in {config.gpus} processes failed (accelerate launch exited with "
                       f"{process.returncode})", f"Each process's traceback is in {run_dir / 'run.log'}.")
    summary = summaries[-1]
    return {key: value for key, value in summary.items() if key not in ("type", "t")}


def _free_port() -> int:
    """A port for the processes to meet on, so two runs at once do not collide."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _terminate_with_parent() -> None:
    """In the launcher, before it starts: SIGTERM when the worker dies, even by SIGKILL."""
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


# ---- one process of the launch ----------------------------------------------------------

class SilentEvents:
    """The event writer of ranks other than 0: their events would repeat rank 0's."""

    def emit(self, type_: str, **fields) -> dict:
        return {"type": type_, **fields}

    def close(self) -> None:
        pass


def stop_everywhere(stop_file: Path) -> bool:
    """True on every process once any of them sees the stop file (called by all, each step)."""
    import torch
    from accelerate import PartialState
    from accelerate.utils import reduce

    seen = torch.tensor([float(stop_file.exists())], device=PartialState().device)
    return bool(reduce(seen, reduction="sum").item() > 0)


def main(argv: list[str]) -> int:
    """One launched process: load the model on this process's device, train, rank 0 reports."""
    from transformers import set_seed

    from tutor.engine import models
    from tutor.engine.data import load_training_data, split_held_out
    from tutor.engine.presets import detect_targets
    from tutor.engine.training.train import train_adapter

    run_dir = Path(argv[0])
    config = RunConfig.load(run_dir / LAUNCH_CONFIG).check()
    events = EventWriter(run_dir) if int(os.environ.get("RANK", "0")) == 0 else SilentEvents()
    dataset, held_out = split_held_out(load_training_data(config), config)
    set_seed(config.seed)  # repeatable; DDP also copies rank 0's initial weights to the others
    device = models.pick_device(config)
    dtype, _ = models.pick_compute_dtype(config, device)  # the worker already warned
    model, tokenizer = models.load_base(config, models.resolve_model(config.model), device, dtype, for_training=True)
    targets = detect_targets(model, config.target_module_spec())
    stop = run_dir / STOP_FILE
    train_adapter(model, tokenizer, dataset, held_out, config, targets, run_dir, device, dtype, events,
                  lambda: stop_everywhere(stop))
    events.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
