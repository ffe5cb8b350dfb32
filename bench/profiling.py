"""Where a benchmark step's time goes: the torch profiler's summary, a sampler of the Python
stack, and the time Python's garbage collector takes inside steps. GPU-side helpers of
`train_speed.py`, kept apart so that script reads in one sitting."""

from __future__ import annotations

import sys
import time


class GCClock:
    """Time Python's garbage collector takes inside training steps (while `active`; not the
    collection FrozenHeap runs before the first step), by generation."""

    def __init__(self) -> None:
        import gc

        self.seconds = [0.0, 0.0, 0.0]
        self.counts = [0, 0, 0]
        self.active = False
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict) -> None:
        if not self.active:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started
            self.counts[info["generation"]] += 1

    def stop(self, steps: int) -> dict:
        import gc

        gc.callbacks.remove(self._on_gc)
        return {"ms_per_step": [1e3 * s / steps for s in self.seconds], "collections": self.counts}


class StackSampler:
    """Samples the main thread's Python stack every millisecond: which functions the host time
    goes to (self = the innermost frame, total = anywhere on the stack)."""

    def __init__(self, interval: float = 0.001) -> None:
        import threading

        self.interval = interval
        self.self_counts: dict[str, int] = {}
        self.total_counts: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._main = threading.main_thread().ident

    def __enter__(self):
        sys.setswitchinterval(self.interval)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        sys.setswitchinterval(0.005)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            frame = sys._current_frames().get(self._main)
            if frame is None:
                continue
            self.samples += 1
            seen = set()
            innermost = True
            while frame is not None:
                code = frame.f_code
                key = f"{'/'.join(code.co_filename.split('/')[-2:])}:{code.co_name}"
                if innermost:
                    self.self_counts[key] = self.self_counts.get(key, 0) + 1
                    innermost = False
                if key not in seen:
                    self.total_counts[key] = self.total_counts.get(key, 0) + 1
                    seen.add(key)
                frame = frame.f_back

    def top(self, n: int) -> dict:
        def ranked(counts):
            return [(k, round(100 * v / max(self.samples, 1), 1)) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:n]]
        return {"samples": self.samples, "self_pct": ranked(self.self_counts), "total_pct": ranked(self.total_counts)}


def profile_summary(averages, active_steps: int, step_seconds: list[float]) -> dict:
    """Where a step's time goes: GPU kernel time per step against the step's wall time, and the
    ops that take the most GPU time (self time, so nested ops are not counted twice)."""
    def gpu_us(event):
        return getattr(event, "self_device_time_total", None) or getattr(event, "self_cuda_time_total", 0)

    kernels = [e for e in averages if e.device_type.name == "CUDA"]  # kernels and copies, not annotated ranges
    busy = sum(gpu_us(e) for e in kernels) / 1e6 / active_steps
    wall = sum(step_seconds) / len(step_seconds)
    syncs = {e.key: {"calls_per_step": e.count / active_steps, "cpu_ms_per_step": e.self_cpu_time_total / 1e3 / active_steps}
             for e in averages if any(word in e.key for word in ("Synchronize", "item", "nonzero", "Memcpy", "_local_scalar"))}
    return {
        "active_steps": active_steps, "wall_step_s": wall, "gpu_busy_step_s": busy, "gpu_idle_fraction": 1 - busy / wall,
        "host_syncs": syncs,
        "table": averages.table(sort_by="self_cuda_time_total", row_limit=30, max_name_column_width=70),
        "cpu_table": averages.table(sort_by="self_cpu_time_total", row_limit=30, max_name_column_width=70),
    }
