"""The run planner against real GPU runs: predicted vs measured peak memory and tokens/s.

    python bench/plan_check.py --out bench/results/plan-check-h200.json

Each plan trains 20 steps of the lab's own trainer (tutor.engine.training.plan_measure) in a
child process of its own, so every peak is that plan's alone. Models not on the machine get
random weights built from their preset's config (cached under the tutor's models folder).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Two models x two plans: the lab's defaults, and a heavier plan (all linear layers, larger r,
# longer rows, bigger batch) that moves activations and adapter size.
MODELS = ("llama-3.2-3b", "qwen3-8b")
SHAPES = ((16, "auto", 4, 512), (64, "all-linear", 8, 1024))


def plans(models: tuple[str, ...]) -> list[dict]:
    return [dict(model=model, rank=rank, alpha=2 * rank, targets=targets, batch_size=batch, max_length=length)
            for model in models for rank, targets, batch, length in SHAPES]


def child(plan_json: str, out: str) -> None:
    from tutor.engine.planner import PlanSettings, plan
    from tutor.engine.training.plan_measure import measure

    settings = PlanSettings(**json.loads(plan_json), gpu="this")
    predicted = plan(settings)
    measured = measure(settings)
    Path(out).write_text(json.dumps({
        "plan": dataclasses.asdict(settings),
        "predicted": {"peak_bytes": predicted.peak, "needed_bytes": predicted.needed, "bill": predicted.bill,
                      "tokens_per_s": predicted.tokens_per_s, "trainable": predicted.trainable,
                      "speed_basis": predicted.speed.basis},
        "measured": measured,
        "peak_error": predicted.peak / measured["peak_allocated_bytes"] - 1,
        "tokens_per_s_error": predicted.tokens_per_s / measured["tokens_per_s"] - 1,
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated presets (default: %(default)s)")
    parser.add_argument("--child", nargs=2, metavar=("PLAN_JSON", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    import torch

    from tutor.engine.planner import TOLERANCE

    checks, failures = [], []
    for settings in plans(tuple(args.models.split(","))):
        out = Path(tempfile.mkstemp(suffix=".json")[1])
        started = time.time()
        done = subprocess.run([sys.executable, __file__, "--out", args.out, "--child", json.dumps(settings), str(out)])
        if done.returncode != 0:
            failures.append({"plan": settings, "returncode": done.returncode})
            continue
        check = json.loads(out.read_text())
        check["wall_s"] = round(time.time() - started, 1)
        checks.append(check)
        print(f"{settings}: peak predicted {check['predicted']['peak_bytes'] / 1e9:.2f} GB, measured "
              f"{check['measured']['peak_allocated_bytes'] / 1e9:.2f} GB ({check['peak_error']:+.1%}); tokens/s "
              f"{check['predicted']['tokens_per_s']:,.0f} vs {check['measured']['tokens_per_s']:,.0f}", flush=True)
    report = {"device": torch.cuda.get_device_name(0), "date": time.strftime("%Y-%m-%d"), "tolerance": TOLERANCE,
              "all_within": bool(checks) and all(abs(c["peak_error"]) <= TOLERANCE for c in checks),
              "checks": checks, "failures": failures}
    Path(args.out).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
