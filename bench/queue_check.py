"""Three learners press Ctrl+R at once on a 7B lab, with each GPU capped at 16 GiB.

The GPU queue must admit what fits (two 7B lab runs), hold the third in line, then run it:
every job finishes with an adapter and none runs out of memory. Writes one JSON file of
what each job waited and used. GPU machine only:

    QLORA_TUTOR_GPU_MEMORY_LIMIT=16GiB python3 bench/queue_check.py --out $OUT/queue.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tutor.engine.events import read_all
from tutor.engine.models import materialize_random


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--preset", default="llama-2-7b")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not os.environ.get("QLORA_TUTOR_GPU_MEMORY_LIMIT"):
        raise SystemExit("set QLORA_TUTOR_GPU_MEMORY_LIMIT (for example 16GiB)")
    work = Path(tempfile.mkdtemp(prefix="queue-check-"))
    started = time.monotonic()
    model = materialize_random(args.preset, work / "model")
    built_s = time.monotonic() - started
    env = dict(os.environ, QLORA_TUTOR_HOME=str(work / "home"), QLORA_TUTOR_QUEUE=str(work / "queue"))
    runs = [work / f"learner{n}" for n in range(args.jobs)]
    processes = [
        subprocess.Popen([sys.executable, "-m", "tutor", "train", "--model", str(model), "--epochs", "1",
                          "--max-new-tokens", "10", "--output", str(run), "--json"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        for run in runs
    ]
    codes = [p.wait(timeout=1500) for p in processes]
    jobs = []
    for run, code, process in zip(runs, codes, processes):
        events = read_all(run)
        waits = [e for e in events if e["type"] == "queue"]
        admitted = next((e for e in waits if e["admitted"] is not None), None)
        summary = next((e for e in events if e["type"] == "summary"), None)
        error = next((e for e in events if e["type"] == "error"), None)
        jobs.append({
            "run": run.name, "exit_code": code, "status": events[-1].get("status") if events else None,
            "need_bytes": admitted["need_bytes"] if admitted else None,
            "gpu": admitted["admitted"] if admitted else None,
            "waited_s": round(admitted["t"] - waits[0]["t"], 1) if admitted else None,
            "queue_positions": [e["position"] for e in waits if e["admitted"] is None],
            "peak_gpu_bytes": summary.get("peak_gpu_bytes") if summary else None,
            "adapter_saved": (run / "adapter" / "adapter_model.safetensors").exists(),
            "error": error, "stderr_tail": process.stderr.read()[-500:] if code else "",
        })
    result = {"preset": args.preset, "cap": os.environ["QLORA_TUTOR_GPU_MEMORY_LIMIT"], "build_s": round(built_s, 1),
              "total_s": round(time.monotonic() - started, 1), "jobs": jobs}
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0 if all(j["status"] == "finished" and j["adapter_saved"] for j in jobs) else 1


if __name__ == "__main__":
    sys.exit(main())
