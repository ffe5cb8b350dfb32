"""Does the `overfit` recipe overfit? Train and held-out loss per epoch of one lab run.

Runs the lab's train job with the recipe (on tiny unless --model says otherwise), or reads a
finished run folder, and writes per epoch the mean training loss and the held-out loss, the
epoch of the lowest held-out loss, and how far both moved after it. The claim the lab-train
lesson makes: after the best epoch the held-out loss rises while the training loss falls.

    python bench/overfit_curve.py --out bench/results/overfit_tiny.json
    python bench/overfit_curve.py --run-dir ~/.local/share/qlora-tutor/runs/NAME
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tutor.engine.config import RunConfig  # noqa: E402
from tutor.engine.events import read_all  # noqa: E402
from tutor.engine.recipes import apply_recipe  # noqa: E402


def epoch_curve(events: list[dict]) -> dict:
    """Per epoch: the mean of its steps' training loss and the held-out loss at its end."""
    steps = [e for e in events if e["type"] == "progress"]
    rows, previous = [], 0.0
    for ev in (e for e in events if e["type"] == "eval"):
        losses = [s["loss"] for s in steps if previous < s["epoch"] <= ev["epoch"]]
        rows.append({"epoch": ev["epoch"], "step": ev["step"], "eval_loss": ev["eval_loss"],
                     "train_loss": round(sum(losses) / len(losses), 4) if losses else None})
        previous = ev["epoch"]
    best = min(rows, key=lambda r: r["eval_loss"])
    after = [r for r in rows if r["epoch"] > best["epoch"]]
    last = rows[-1]
    return {
        "epochs": rows,
        "best_epoch": best["epoch"],
        "best_eval_loss": best["eval_loss"],
        "eval_loss_rise_after_best": round(max((r["eval_loss"] for r in after), default=best["eval_loss"]) - best["eval_loss"], 4),
        "train_loss_fall_after_best": round(best["train_loss"] - last["train_loss"], 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", help="read this finished run instead of training")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--out", help="write the JSON here (default: print it)")
    args = parser.parse_args()
    started = time.monotonic()
    if args.run_dir:
        run_dir = Path(args.run_dir).expanduser()
    else:
        from tutor.engine.jobs import SubprocessRunner

        handle = SubprocessRunner().start("train", apply_recipe(RunConfig(model=args.model), "overfit"))
        status = handle.wait(timeout=1800)
        if status != "finished":
            print(f"the run ended {status}; see {handle.run_dir / 'run.log'}", file=sys.stderr)
            return 2
        run_dir = handle.run_dir
    events = read_all(run_dir)
    summary = next(e for e in events if e["type"] == "summary")
    result = {"recipe": summary.get("recipe"), "model": args.model, "wall_s": round(time.monotonic() - started, 1),
              "train_runtime_s": summary["train_runtime"], "global_step": summary["global_step"], **epoch_curve(events)}
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
