"""Refit the planner's step-time model (tutor/engine/step_time.py) to the committed GPU runs.

    python bench/fit_step_time.py

Prints each GPU's fitted constants beside the committed ones in `step_time.FITS` (paste the
new ones there when a result file is added), and a markdown table of every run: measured
tokens/s, what the planner said before this model (the plan check's own prediction),
what it says now, and what a fit made without that run says (leave-one-out).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tutor.engine.planner import MEASUREMENTS_DIR, speed_checks, speed_runs  # noqa: E402
from tutor.engine.step_time import FITS, SOURCES, fit_per_gpu  # noqa: E402


def earlier_predictions() -> list[float | None]:
    """The planner's tokens/s before the step-time model, where a result file recorded it."""
    checks = json.loads((MEASUREMENTS_DIR / SOURCES["h200"][0]).read_text())["checks"]
    return [check["predicted"]["tokens_per_s"] for check in checks]


def main() -> None:
    runs = speed_runs()
    for gpu, fit in fit_per_gpu(runs).items():
        committed = FITS.get(gpu)
        print(f"{gpu}: StepFit(host_s_per_layer={fit.host_s_per_layer:.3g}, achieved_flops={fit.achieved_flops / 1e12:.3g}e12)"
              f"   committed: {committed}")
    before = earlier_predictions()
    print("\n| run | GPU | measured tokens/s | predicted before | predicted now | error | left out | error |")
    print("|---|---|---|---|---|---|---|---|")
    for index, check in enumerate(speed_checks(runs)):
        earlier = f"{before[index]:,.0f}" if index < len(before) else "= measured (scaled from it)"
        print(f"| {check.run.label} | {check.run.gpu.upper()} | {check.run.tokens_per_s:,.0f} | {earlier} | "
              f"{check.fitted:,.0f} | {check.fitted_error:+.1%} | {check.left_out:,.0f} | {check.left_out_error:+.1%} |")


if __name__ == "__main__":
    main()
