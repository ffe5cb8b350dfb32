"""`doctor`: is this machine ready for the labs? One verdict per line, each with a fix hint.

No GPU is a WARN, not a FAIL: every lesson and the built-in tiny model work on CPU. Heavy
libraries are imported inside the checks, so importing this module stays cheap; callers run
`iter_checks()` off the UI thread.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

OK, WARN, FAIL = "OK", "WARN", "FAIL"
GiB = 1024**3
LIBRARIES = ("transformers", "peft", "trl", "accelerate", "datasets")
MIN_FREE_DISK_GIB = 10
MIN_FREE_GPU_GIB = 4


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    hint: str = ""


def check_python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info < (3, 10):
        return Check("Python", FAIL, version, "qlora-tutor needs Python 3.10 or newer")
    return Check("Python", OK, version)


def check_torch() -> Check:
    try:
        import torch
    except ImportError as exc:
        return Check("torch", FAIL, f"not importable ({exc})", "pip install torch")
    if torch.cuda.is_available():
        return Check("torch", OK, f"{torch.__version__}, CUDA {torch.version.cuda}")
    if torch.version.cuda:
        return Check("torch", WARN, f"{torch.__version__}, CUDA build but no GPU visible",
                     "check the driver with nvidia-smi; the tiny model still runs on CPU")
    return Check("torch", WARN, f"{torch.__version__}, CPU-only build",
                 "fine for the lessons and the tiny model; real models need a CUDA build of torch")


def check_gpu() -> Check:
    try:
        import torch
    except ImportError:
        return Check("GPU", WARN, "unknown (torch missing)", "install torch first")
    if not torch.cuda.is_available():
        return Check("GPU", WARN, "none", "labs use the built-in tiny model on CPU; "
                     "an NVIDIA GPU runs real models")
    free, total = torch.cuda.mem_get_info()
    bf16 = torch.cuda.is_bf16_supported()
    detail = (f"{torch.cuda.get_device_name(0)}, {total / GiB:.1f} GiB total, "
              f"{free / GiB:.1f} GiB free, bf16 {'yes' if bf16 else 'no'}")
    if free < MIN_FREE_GPU_GIB * GiB:
        return Check("GPU", WARN, detail, "little free GPU memory: close other jobs (nvidia-smi)")
    if not bf16:
        return Check("GPU", WARN, detail, "no bf16 on this GPU: training falls back to fp16")
    return Check("GPU", OK, detail)


def check_bitsandbytes() -> Check:
    from importlib import metadata

    try:
        version = metadata.version("bitsandbytes")
        import bitsandbytes.cextension as native
        import torch
    except (ImportError, metadata.PackageNotFoundError) as exc:
        return Check("bitsandbytes", FAIL, f"not importable ({exc})", "pip install bitsandbytes")
    if not torch.cuda.is_available():
        return Check("bitsandbytes", WARN, f"{version}, no GPU backend (no GPU)",
                     "4-bit layers of real models need a CUDA GPU")
    if isinstance(native.lib, native.CudaBNBNativeLibrary):
        return Check("bitsandbytes", OK, f"{version}, CUDA backend loaded")
    return Check("bitsandbytes", FAIL, f"{version}, CUDA backend failed to load",
                 "run `python -m bitsandbytes` for the cause; reinstall a build matching your CUDA")


def check_library(name: str) -> Check:
    from importlib import metadata

    try:
        return Check(name, OK, metadata.version(name))
    except metadata.PackageNotFoundError:
        return Check(name, FAIL, "not installed", f"pip install {name}")


def check_liger() -> Check:
    """Optional: packed training on a GPU uses Liger's kernels when they are installed."""
    from importlib import metadata

    try:
        return Check("liger-kernel", OK, f"{metadata.version('liger-kernel')}: packed training uses its kernels")
    except metadata.PackageNotFoundError:
        pass
    import torch

    if not torch.cuda.is_available():
        return Check("liger-kernel", OK, "not installed (only used on a GPU)")
    return Check("liger-kernel", WARN, "not installed: GPU training runs without its kernels, about 14 % slower",
                 "pip install liger-kernel")


def hf_cache_dir() -> Path:
    if cache := os.environ.get("HF_HUB_CACHE"):
        return Path(cache).expanduser()
    home = os.environ.get("HF_HOME") or Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")) / "huggingface"
    return Path(home).expanduser() / "hub"


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def check_hf_cache() -> Check:
    cache = hf_cache_dir()
    existing = next(p for p in (cache, *cache.parents) if p.exists())
    free = shutil.disk_usage(existing).free
    mode = "offline (HF_HUB_OFFLINE): cached models only" if is_offline() else "online"
    detail = f"{cache}, {free / GiB:.1f} GiB free, {mode}"
    if free < MIN_FREE_DISK_GIB * GiB:
        return Check("HF cache", WARN, detail, "models need several GiB: free disk or set HF_HOME")
    return Check("HF cache", OK, detail)


def check_cached_presets() -> Check:
    from tutor.engine.fetch import cached_presets

    found = cached_presets()
    if not found:
        return Check("Presets", WARN, "none", "qlora-tutor fetch bloom-7b1 (or another preset) before a workshop")
    return Check("Presets", OK, ", ".join(found))


def check_gpu_queue() -> Check:
    from tutor.engine.gpu_queue import GpuQueue, QueueError, memory_cap

    try:
        queue = GpuQueue()
        queue.ensure()
        cap = memory_cap()
    except QueueError as exc:
        return Check("GPU queue", FAIL, str(exc), exc.hint)
    tickets = queue.snapshot()
    waiting = sum(t.waiting for t in tickets)
    detail = f"{queue.folder}, {len(tickets)} job(s), {waiting} waiting"
    if cap:
        detail += f", each GPU capped at {cap / GiB:.1f} GiB"
    return Check("GPU queue", OK, detail)


def all_checks() -> list[tuple[str, Callable[[], Check]]]:
    """(name, check) in report order."""
    return [
        ("Python", check_python),
        ("torch", check_torch),
        ("GPU", check_gpu),
        ("bitsandbytes", check_bitsandbytes),
        *((name, partial(check_library, name)) for name in LIBRARIES),
        ("liger-kernel", check_liger),
        ("HF cache", check_hf_cache),
        ("Presets", check_cached_presets),
        ("GPU queue", check_gpu_queue),
    ]


def iter_checks() -> Iterator[Check]:
    """Run every check in order; a check that crashes is reported as a FAIL, not raised."""
    for name, check in all_checks():
        try:
            yield check()
        except Exception as exc:  # a broken driver must not take the report down
            yield Check(name, FAIL, f"{type(exc).__name__}: {exc}", "report this with the message")


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.status == FAIL for c in checks) else 0
