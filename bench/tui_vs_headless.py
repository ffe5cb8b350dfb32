"""Does watching a run slow it? The same lab train run, headless vs watched in the TUI.

Each round runs the lab's train job twice with one config: headless, as `qlora-tutor train`
in a subprocess; and in the TUI, the app from `create_app` with its real job runner, driven
by Textual's Pilot the way tests/test_lab_ui.py does it: open lab-train, fill the form,
press Start, scroll the progress, GPU, loss-chart and log panes on screen and keep the app
running until the job ends. Both figures are the tokens/s of the run's `summary` event. The
claim: the TUI's median is within 3 % of the headless one. Rounds alternate the order
(headless first, then TUI first, ...) so that drift favours neither, after an uncounted
headless warm-up run that fills the caches a first run pays for (Triton kernels compiled on
a GPU). Every run gets a fresh tutor home (no re-attached runs, the learner's progress
untouched); the model cache is kept. Exit status: 0 within 3 %, 1 not, 2 a run failed.

    python bench/tui_vs_headless.py --rounds 1                     # CPU, the tiny model
    python bench/tui_vs_headless.py --model /models/llama-2-7b --out bench/results/tui-vs-headless.json

Textual's headless driver lays out and renders every frame but writes none to a terminal,
so the cost of a terminal emulator drawing them is not in the TUI figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tutor import paths  # noqa: E402
from tutor.engine.config import ConfigError, RunConfig  # noqa: E402
from tutor.engine.events import RunStatus, read_all, status_of  # noqa: E402
from tutor.engine.jobs import LOG_FILE, attach, read_job  # noqa: E402

TOLERANCE = 0.03
SIZE = (120, 40)
MODES = ("headless", "tui")
# The run settings both modes take from the command line; the rest stay the lab's defaults.
KNOBS = ("model", "device", "epochs", "batch_size", "max_length", "num_samples", "speed")


class BenchError(Exception):
    """A run that failed or could not be compared: printed as a message, not a traceback."""


# ---- the two ways of running the job ---------------------------------------------------


def run_headless(home: Path, overrides: dict, timeout: float) -> tuple[Path, dict]:
    """`qlora-tutor train` with the overrides as options; the run folder it trained in."""
    run_dir = home / "runs" / "headless"
    command = [sys.executable, "-m", "tutor", "train", "--output", str(run_dir), *cli_options(overrides)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                              env=dict(os.environ, QLORA_TUTOR_HOME=str(home)))
    except subprocess.TimeoutExpired:
        raise BenchError(f"the headless run took longer than {timeout:.0f} s") from None
    finally:
        stop_job(run_dir)
    if done.returncode != 0 and not read_all(run_dir):
        raise BenchError(f"`qlora-tutor train` exited with {done.returncode}:\n{done.stderr.strip()}")
    return run_dir, {}


async def run_in_tui(home: Path, overrides: dict, timeout: float) -> tuple[Path, dict]:
    """Start the run from the lab-train form and watch it to the end; its run folder, and the
    CPU seconds the app (this process) spent while the job ran: what it could take from it."""
    from rich.text import Text
    from textual.widgets import Select, Static

    from lessons.panels.lab_train import LabTrainPanel
    from tutor.ui.app import create_app

    os.environ[paths.ENV_HOME] = str(home)
    app = create_app(start_lesson="lab-train")
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one(LabTrainPanel)
        for name, value in overrides.items():
            field = panel.query_one("#field-model-custom" if name == "model" else f"#field-{name}")
            field.value = value if isinstance(field, Select) else str(value)
        panel.query_one("#start").scroll_visible(animate=False)
        await pilot.pause()
        cpu_at_start = time.process_time()
        await pilot.click("#start")
        await pilot.pause()
        if panel.run is None:
            status = Text.from_markup(str(panel.query_one(".lab-status", Static).content)).plain
            raise BenchError(f"the lab did not start the run: {status}")
        run = panel.run
        try:
            panel.query_one("#train-progress").scroll_visible(animate=False, top=True)
            deadline = time.monotonic() + timeout
            while run.status == "running":
                if time.monotonic() > deadline:
                    raise BenchError(f"the TUI run took longer than {timeout:.0f} s")
                await asyncio.sleep(0.25)  # the app's own timers draw the frames, as for a learner
            app_cpu_s = round(time.process_time() - cpu_at_start, 2)
            hidden = [pane.id for pane in panel.query(".run-pane") if not app.screen.region.contains_region(pane.region)]
            if hidden:
                raise BenchError(f"panes scrolled off screen during the TUI run: {', '.join(hidden)}")
        finally:
            stop_job(run.run_dir)
    return run.run_dir, {"app_cpu_s": app_cpu_s}


def stop_job(run_dir: Path) -> None:
    """Kill a job still running (a timeout, Ctrl-C), so it cannot slow the next run."""
    if not (run_dir / "job.json").exists():
        return
    handle = attach(run_dir)
    if handle.is_running():
        os.killpg(handle.pid, signal.SIGKILL)


# ---- reading and comparing the results ---------------------------------------------------


def cli_options(overrides: dict) -> list[str]:
    """The overrides as `qlora-tutor train` options."""
    return [part for name, value in overrides.items() for part in ("--" + name.replace("_", "-"), str(value))]


def run_result(run_dir: Path, expected: RunConfig) -> dict:
    """What a finished run measured; BenchError with the job's own error if it did not finish."""
    events = read_all(run_dir)
    last = {event["type"]: event for event in events}
    status = status_of(events, alive=False)
    if status is not RunStatus.FINISHED or "summary" not in last:
        raise BenchError(failure(run_dir, status, last.get("error")))
    used, wanted = RunConfig.load(run_dir / "config.toml").to_dict(), expected.to_dict()
    differ = {name: value for name, value in used.items() if value != wanted[name]}
    if differ:
        raise BenchError(f"{run_dir.name} ran other settings than asked: {differ}")
    summary = last["summary"]
    step_times = [e["step_time_s"] for e in events if e["type"] == "progress" and e.get("step_time_s")]
    return {
        "tokens_per_s": summary["tokens_per_s"],
        "steps": summary["global_step"],
        "step_s": statistics.median(step_times) if step_times else None,
        "train_s": summary["train_runtime"],
        "wall_s": round(last["end"]["t"] - read_job(run_dir)["started_at"], 2),
        "device": last.get("model", {}).get("device"),
    }


def failure(run_dir: Path, status: RunStatus, error: dict | None) -> str:
    """Why a run has no figures: the job's error and hint, or the end of its run.log."""
    if error:
        return f"{error['message']}" + (f"\n  hint: {error['hint']}" if error.get("hint") else "")
    if status is not RunStatus.LOST:
        return f"the run ended {status} without a summary"
    log = (run_dir / LOG_FILE).read_text(encoding="utf-8", errors="replace") if (run_dir / LOG_FILE).exists() else ""
    return "the job stopped without an end event (killed?); the end of its run.log:\n" + "\n".join(log.splitlines()[-15:])


def compare(runs: list[dict]) -> dict:
    """Median tokens/s per mode, TUI / headless, and whether that is within TOLERANCE."""
    medians = {mode: statistics.median(r["tokens_per_s"] for r in runs if r["mode"] == mode) for mode in MODES}
    ratio = medians["tui"] / medians["headless"]
    return {"median_tokens_per_s": medians, "ratio": round(ratio, 4), "within": abs(ratio - 1) <= TOLERANCE}


def table(runs: list[dict]) -> str:
    """One line per run; app CPU s is the TUI's own CPU time while its job ran."""
    lines = [f"{'mode':<9} {'round':>5} {'tokens/s':>10} {'steps':>6} {'step s':>8} {'train s':>8} {'wall s':>8} {'app CPU s':>10}"]
    for r in runs:
        step_s = f"{r['step_s']:.3f}" if r["step_s"] is not None else "-"
        app_cpu_s = f"{r['app_cpu_s']:.2f}" if "app_cpu_s" in r else "-"
        lines.append(f"{r['mode']:<9} {r['round']:>5} {r['tokens_per_s']:>10,.0f} {r['steps']:>6} {step_s:>8} "
                     f"{r['train_s']:>8.1f} {r['wall_s']:>8.1f} {app_cpu_s:>10}")
    return "\n".join(lines)


# ---- the benchmark ---------------------------------------------------------------------


def main() -> int:
    from tutor.commands.train import add_config_options

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds of one headless and one TUI run (default: 2)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted headless runs first (default: 1)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one run may take (default: 3600)")
    parser.add_argument("--work", metavar="DIR", help="keep the run folders here (default: a temporary folder, removed)")
    parser.add_argument("--out", metavar="FILE.json", help="write the results here")
    add_config_options(parser, only=KNOBS)
    args = parser.parse_args()
    if args.rounds < 1 or args.warmup < 0:
        parser.error("--rounds must be at least 1 and --warmup at least 0")

    overrides = {name: getattr(args, name) for name in KNOBS if getattr(args, name) is not None}
    if "model" in overrides and Path(overrides["model"]).expanduser().is_dir():
        # The runner saves a local folder's absolute path in the run's config; expect the same.
        overrides["model"] = str(Path(overrides["model"]).expanduser().resolve())
    try:
        expected = RunConfig(**overrides).check()
    except ConfigError as exc:
        parser.error(str(exc))
    work = Path(args.work).resolve() if args.work else Path(tempfile.mkdtemp(prefix="tui-vs-headless-"))
    print(f"settings: {overrides or 'the lab defaults'}; {args.rounds} round(s), runs in {work}", file=sys.stderr)

    # Round 0 is the warm-up; odd rounds run headless first, even rounds the TUI first.
    plan = [(0, "headless")] * args.warmup + [
        (round_, mode) for round_ in range(1, args.rounds + 1) for mode in (MODES if round_ % 2 else MODES[::-1])]
    runs = []
    try:
        for n, (round_, mode) in enumerate(plan):
            label = f"round {round_}" if round_ else "warm-up"
            home = work / f"{n}-{label.replace(' ', '')}-{mode}"
            print(f"{label}: {mode} ...", file=sys.stderr, flush=True)
            if mode == "headless":
                run_dir, extra = run_headless(home, overrides, args.timeout)
            else:
                run_dir, extra = asyncio.run(run_in_tui(home, overrides, args.timeout))
            try:
                result = {"mode": mode, "round": round_, **run_result(run_dir, expected), **extra}
            except BenchError as exc:
                raise BenchError(f"the {mode} run ({label}) failed: {exc}") from None
            if round_:
                runs.append(result)
    except BenchError as exc:
        print(f"tui_vs_headless: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tui_vs_headless: interrupted", file=sys.stderr)
        return 130
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)

    result = compare(runs)
    print(table(runs))
    medians = result["median_tokens_per_s"]
    print(f"median tokens/s: headless {medians['headless']:,.0f}, TUI {medians['tui']:,.0f}; "
          f"TUI / headless = {result['ratio']:.3f} -> {'within' if result['within'] else 'NOT within'} "
          f"{TOLERANCE:.0%} (device {runs[0]['device']}, {os.cpu_count()} CPU cores, "
          f"load average now {os.getloadavg()[0]:.1f})")
    if args.out:
        report = {"settings": expected.to_dict(), "size": SIZE, "cpu_count": os.cpu_count(), "runs": runs,
                  **result, "tolerance": TOLERANCE}
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if result["within"] else 1


if __name__ == "__main__":
    sys.exit(main())
