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
untouched); the model cache is kept. Exit status: 0 within 3 %, 1 not, 2 a run failed or
the settings train fewer than --min-steps steps.

A run must be long enough to measure (--min-steps, 60): the bundled prompts pack into a few
rows of 256 tokens on a GPU, two steps an epoch at batch 8. So the script trains on all 80
bundled prompts, works out the steps a run will train the way the job will (the same split and
tokenizer, trl's best-fit-decreasing packing when the run packs, the job's batch size), and
unless --epochs is given takes the fewest whole epochs that reach --min-steps; it refuses
settings that train fewer. --shape builds a model folder of random weights instead (for a GPU
machine without the hub: bench/train_speed.py's shapes, quantized to NF4 once and reused).

    python bench/tui_vs_headless.py --rounds 1                     # CPU, the tiny model
    python bench/tui_vs_headless.py --shape qwen2-1.5b --out bench/results/tui-vs-headless.json

Textual's headless driver lays out and renders every frame but writes none to a terminal,
so the cost of a terminal emulator drawing them is not in the TUI figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import train_speed  # noqa: E402
from tutor import paths  # noqa: E402
from tutor.engine.config import RunConfig  # noqa: E402
from tutor.engine.errors import LabError  # noqa: E402
from tutor.engine.events import RunStatus, read_all, status_of  # noqa: E402
from tutor.engine.jobs import LOG_FILE, attach, read_job  # noqa: E402

TOLERANCE = 0.03
SIZE = (120, 40)
MODES = ("headless", "tui")
# The run settings both modes take from the command line; the rest stay the lab's defaults.
KNOBS = ("model", "device", "epochs", "batch_size", "max_length", "num_samples", "speed")
# Where the bench's own defaults differ from the lab's: every bundled prompt, for more steps an epoch.
BENCH_DEFAULTS = {"num_samples": 80}


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
        await preview_drawn(pilot, panel, RunConfig(**overrides), timeout)
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


async def preview_drawn(pilot, panel, config: RunConfig, timeout: float) -> None:
    """A form that names another model or dataset than the defaults has the data preview read
    them (in a worker, after a pause in typing) and grow by a dozen lines, which would push the
    panes off screen mid-run: wait for it, as a learner sees it before pressing Start."""
    from rich.text import Text
    from textual.widgets import Static

    from lessons.panels.common import COMPUTING
    from lessons.panels.lab_train import PREVIEW_HINT, DataPreview

    if DataPreview.settings_of(config) == DataPreview.settings_of(RunConfig()):
        return
    result = panel.query_one(DataPreview).query_one("#result", Static)
    deadline = time.monotonic() + timeout
    while isinstance(result.content, Text) and result.content.plain in (PREVIEW_HINT.plain, COMPUTING.plain):
        if time.monotonic() > deadline:
            raise BenchError(f"the data preview took longer than {timeout:.0f} s")
        await pilot.pause(0.1)
    await pilot.pause()  # laid out at its new height


def stop_job(run_dir: Path) -> None:
    """Kill a job still running (a timeout, Ctrl-C), so it cannot slow the next run."""
    if not (run_dir / "job.json").exists():
        return
    handle = attach(run_dir)
    if handle.is_running():
        os.killpg(handle.pid, signal.SIGKILL)


# ---- how long a run will be ------------------------------------------------------------


@dataclass(frozen=True)
class StepPlan:
    """The batches of one epoch of a run, as its job will make them."""

    device: str
    samples: int  # training samples, after the held-out split
    rows: int  # packed rows, or the samples themselves when the run pads
    packed: bool
    batch: int

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.rows / self.batch)

    def steps(self, epochs: float) -> int:
        """What transformers' Trainer makes of num_train_epochs."""
        return math.ceil(epochs * self.steps_per_epoch)

    def epochs_for(self, steps: int) -> int:
        return math.ceil(steps / self.steps_per_epoch)

    def describe(self) -> str:
        rows = f"{self.rows} packed rows" if self.packed else "padded batches"
        return (f"{self.device}: {self.samples} training samples, {rows}, batch {self.batch} -> "
                f"{self.steps_per_epoch} steps an epoch")


def plan_steps(settings: dict) -> StepPlan:
    """The job's own data path up to its batches: the samples and held-out split of the config,
    tokenized as trl does with the model's tokenizer, packed by trl's bfd packing when the run
    packs, at the batch size the job picks (a GPU's auto batch 8 halves only on out-of-memory,
    which makes more steps, never fewer)."""
    from datasets import Dataset
    from trl.data_utils import pack_dataset

    from tutor.engine.data import data_shape, load_training_data, split_held_out
    from tutor.engine.models import pick_device
    from tutor.engine.sft_data import tokenize_row, training_tokenizer
    from tutor.engine.training.speed import resolve_speed
    from tutor.engine.training.train import AUTO_BATCH_SIZE

    config = RunConfig(**settings)
    device = pick_device(config)
    train, _ = split_held_out(load_training_data(config), config)
    packed = resolve_speed(config, device) == "packed"
    rows = len(train)
    if packed:
        tokenizer, shape = training_tokenizer(config.model), data_shape(train)
        ids = [list(tokenize_row(tokenizer, row, shape).ids) for row in train]
        rows = len(pack_dataset(Dataset.from_dict({"input_ids": ids}), config.max_length, "bfd"))
    batch = AUTO_BATCH_SIZE[device] if config.batch_size == "auto" else config.batch_size
    return StepPlan(device, len(train), rows, packed, batch)


def planned(settings: dict) -> StepPlan:
    """plan_steps in a child process: torch, transformers and trl stay out of this one, where
    the TUI runs, so its garbage collector walks no bigger heap than a learner's app does."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(plan_steps, settings).result()


def build_shape(shape: str, folder_root: Path, device: str | None) -> Path:
    """bench/train_speed.py's random-weight folder of `shape` (built in its own child process,
    once: a folder already there is reused); the NF4 copy the runs load."""
    folder = folder_root / f"bench-{shape}"
    env = dict(os.environ, **({"BENCH_DEVICE": "cpu"} if device == "cpu" else {}))
    print(f"model: {shape} shape, random weights, in {folder} ...", file=sys.stderr, flush=True)
    done = subprocess.run([sys.executable, train_speed.__file__, "--build", "--model", shape, "--folder", str(folder)],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"building the {shape} folder failed:\n{done.stderr.strip()[-3000:]}")
    return train_speed.quantized_folder(folder)


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
    """Median tokens/s and step time per mode, TUI / headless tokens/s, and whether that is
    within TOLERANCE."""
    def median(mode: str, key: str) -> float | None:
        values = [r[key] for r in runs if r["mode"] == mode and r.get(key) is not None]
        return statistics.median(values) if values else None

    medians = {mode: median(mode, "tokens_per_s") for mode in MODES}
    ratio = medians["tui"] / medians["headless"]
    return {"median_tokens_per_s": medians, "median_step_s": {mode: median(mode, "step_s") for mode in MODES},
            "ratio": round(ratio, 4), "within": abs(ratio - 1) <= TOLERANCE}


def table(runs: list[dict]) -> str:
    """A markdown table, one row per run; app CPU s is the TUI's own CPU time while its job ran."""
    lines = ["| mode | round | tokens/s | median step s | steps | train s | wall s | app CPU s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        step_s = f"{r['step_s']:.3f}" if r["step_s"] is not None else "-"
        app_cpu_s = f"{r['app_cpu_s']:.2f}" if "app_cpu_s" in r else "-"
        lines.append(f"| {r['mode']} | {r['round']} | {r['tokens_per_s']:,.0f} | {step_s} | {r['steps']} | "
                     f"{r['train_s']:.1f} | {r['wall_s']:.1f} | {app_cpu_s} |")
    return "\n".join(lines)


# ---- the benchmark ---------------------------------------------------------------------


def main() -> int:
    from tutor.commands.train import add_config_options

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of one headless and one TUI run (default: 3)")
    parser.add_argument("--warmup", type=int, default=1, help="uncounted headless runs first (default: 1)")
    parser.add_argument("--min-steps", type=int, default=60,
                        help="refuse settings whose runs train fewer steps; without --epochs, the fewest whole "
                             "epochs that reach it (default: 60)")
    parser.add_argument("--shape", choices=sorted(train_speed.SHAPES),
                        help="train a random-weight model of this shape (bench/train_speed.py), not --model")
    parser.add_argument("--shape-dir", metavar="DIR", default=os.environ.get("TMPDIR", "/tmp"),
                        help="where --shape's folders are built or found (default: $TMPDIR or /tmp, "
                             "as bench/train_speed.py builds them)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one run may take (default: 3600)")
    parser.add_argument("--work", metavar="DIR", help="keep the run folders here (default: a temporary folder, removed)")
    parser.add_argument("--out", metavar="FILE.json", help="write the results here (after every run)")
    add_config_options(parser, only=KNOBS)
    args = parser.parse_args()
    if args.rounds < 1 or args.warmup < 0:
        parser.error("--rounds must be at least 1 and --warmup at least 0")
    if args.shape and args.model:
        parser.error("--shape builds the model: leave out --model")

    try:
        if args.shape:
            args.model = str(build_shape(args.shape, Path(args.shape_dir).expanduser().resolve(), args.device))
        overrides = {**BENCH_DEFAULTS,
                     **{name: getattr(args, name) for name in KNOBS if getattr(args, name) is not None}}
        if "model" in overrides and Path(overrides["model"]).expanduser().is_dir():
            # The runner saves a local folder's absolute path in the run's config; expect the same.
            overrides["model"] = str(Path(overrides["model"]).expanduser().resolve())
        RunConfig(**overrides).check()
        plan = planned(overrides)
        if args.epochs is None:
            overrides["epochs"] = float(plan.epochs_for(args.min_steps))
        expected = RunConfig(**overrides).check()
    except (LabError, BenchError) as exc:
        print(f"tui_vs_headless: {exc}", file=sys.stderr)
        return 2
    steps = plan.steps(expected.epochs)
    print(f"steps: {plan.describe()}; {expected.epochs:g} epochs -> {steps} steps a run", file=sys.stderr)
    if steps < args.min_steps:
        print(f"tui_vs_headless: these settings train {steps} steps a run, fewer than --min-steps {args.min_steps}: "
              f"use more --epochs (at least {plan.epochs_for(args.min_steps)})", file=sys.stderr)
        return 2
    work = Path(args.work).resolve() if args.work else Path(tempfile.mkdtemp(prefix="tui-vs-headless-"))
    print(f"settings: {overrides}; {args.rounds} round(s), runs in {work}", file=sys.stderr)

    # Round 0 is the warm-up; odd rounds run headless first, even rounds the TUI first.
    plan_runs = [(0, "headless")] * args.warmup + [
        (round_, mode) for round_ in range(1, args.rounds + 1) for mode in (MODES if round_ % 2 else MODES[::-1])]
    report = {"settings": expected.to_dict(), "shape": args.shape, "planned_steps": steps, "step_plan": asdict(plan),
              "size": SIZE, "cpu_count": os.cpu_count(), "tolerance": TOLERANCE, "runs": []}
    runs = report["runs"]
    try:
        for n, (round_, mode) in enumerate(plan_runs):
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
            if result["steps"] < args.min_steps:
                raise BenchError(f"the {mode} run ({label}) trained {result['steps']} steps, "
                                 f"fewer than --min-steps {args.min_steps} (planned {steps})")
            print(f"{label}: {mode} {result['tokens_per_s']:,.0f} tokens/s, {result['steps']} steps, "
                  f"{result['train_s']:.1f} s training, {result['wall_s']:.1f} s in all", file=sys.stderr, flush=True)
            if round_:
                runs.append(result)
                write_report(args.out, report)
    except BenchError as exc:
        print(f"tui_vs_headless: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tui_vs_headless: interrupted", file=sys.stderr)
        return 130
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)

    report.update(compare(runs))
    report["device"] = runs[0]["device"]
    write_report(args.out, report)
    print(table(runs))
    medians = report["median_tokens_per_s"]
    print(f"\nmedian tokens/s: headless {medians['headless']:,.0f}, TUI {medians['tui']:,.0f}; "
          f"TUI / headless = {report['ratio']:.3f} -> {'within' if report['within'] else 'NOT within'} "
          f"{TOLERANCE:.0%} (device {report['device']}, {os.cpu_count()} CPU cores, "
          f"load average now {os.getloadavg()[0]:.1f})")
    return 0 if report["within"] else 1


def write_report(out: str | None, report: dict) -> None:
    """After every counted run, so a session cut short still leaves the runs it finished."""
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
