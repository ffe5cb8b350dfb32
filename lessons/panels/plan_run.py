"""Panel of the plan-your-run lesson: choose a model, a GPU and the LoRA settings; see the
predicted memory bill, adapter size and speed (from `lessons.reports.plan_run`, which
`qlora-tutor show` prints too); then measure the plan on this machine's GPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rich.console import Group, RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.validation import Integer
from textual.widgets import Button, Checkbox, Input, Select, Static

from lessons.panels.common import COMPUTING, HEAVY_WORK, ResultPanel, input_problems
from lessons.reports.plan_run import DEFAULTS, committed_checks_table, predicted
from tutor.engine.errors import LabError
from tutor.engine.planner import GPUS, TOLERANCE, PlanSettings
from tutor.engine.presets import PRESETS
from tutor.ui.messages import MeasurementPassed

CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")
NUMBERS = (("rank", "r", 1, 1024), ("alpha", "alpha", 1, 4096), ("batch_size", "batch", 1, 1024),
           ("max_length", "length", 1, 131072))
MEASURE_TIMEOUT_S = 1800


def cli_arguments(settings: PlanSettings) -> list[str]:
    """The `qlora-tutor plan` arguments of these settings (the measurement runs in a child)."""
    targets = settings.targets if isinstance(settings.targets, str) else ",".join(settings.targets)
    args = ["--model", settings.model, "--gpu", "this", "--rank", str(settings.rank), "--alpha", str(settings.alpha),
            "--targets", targets, "--batch-size", str(settings.batch_size), "--max-length", str(settings.max_length),
            "--optimizer", settings.optimizer]
    return args + ([] if settings.gradient_checkpointing else ["--no-checkpointing"])


def measured(settings: PlanSettings) -> tuple[RenderableType, str | None]:
    """On a GPU: 20 real steps in a child process, and a one-line summary when the plan fit
    and the prediction came within tolerance (the capstone passes). On a CPU: the committed
    GPU checks, and no summary."""
    import torch

    if not torch.cuda.is_available():
        return Group(
            Text("No CUDA GPU here. On one, this trains 20 steps of the plan (random weights when the model "
                 "is not on the machine) and shows predicted vs measured peak memory and tokens/s; a plan "
                 "that fits and is predicted within 15 % completes this lesson. The planner against this "
                 "project's committed H100 runs:", style="italic"),
            committed_checks_table(),
        ), None
    done = subprocess.run([sys.executable, "-m", "tutor", "plan", *cli_arguments(settings), "--measure"],
                          capture_output=True, text=True, timeout=MEASURE_TIMEOUT_S)
    if done.returncode not in (0, 1):
        return Text(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "the measurement failed",
                    style="bold red"), None
    shown = Text(done.stdout[done.stdout.find("predicted vs measured"):] or done.stdout)
    if done.returncode != 0:
        return shown, None
    return shown, (f"{settings.model}, r {settings.rank}, batch {settings.batch_size} x {settings.max_length}: "
                   f"trained 20 steps on this GPU, peak predicted within {TOLERANCE:.0%}")


class PlanPanel(ResultPanel):
    """Choose the run (Enter in a field recomputes); the button measures it on this machine."""

    DEFAULT_CSS = CSS
    compute = staticmethod(predicted)

    def compose(self) -> ComposeResult:
        with Horizontal(classes="controls"):
            yield Select([(name, name) for name, p in PRESETS.items() if not p.teaching], value=DEFAULTS.model,
                         allow_blank=False, id="model")
            yield Select([(gpu.label, key) for key, gpu in GPUS.items()], value=DEFAULTS.gpu, allow_blank=False,
                         id="gpu")
            yield Input(str(DEFAULTS.targets), id="targets")
        with Horizontal(classes="controls"):
            for field, _, low, high in NUMBERS:
                yield Input(str(getattr(DEFAULTS, field)), id=field,
                            validators=[Integer(low, high, f"{field.replace('_', ' ')}: {low} to {high}")])
            yield Checkbox("checkpointing", DEFAULTS.gradient_checkpointing, id="checkpointing")
        yield Static(id="message")
        yield Static(COMPUTING, id="result")
        yield Button("Measure this plan on this machine", id="measure")
        yield Static(id="measured")

    def on_mount(self) -> None:
        for field, title, *_ in NUMBERS:
            self.query_one(f"#{field}", Input).border_title = title
        self.query_one("#targets", Input).border_title = "targets"
        self.replan()

    def settings(self) -> PlanSettings | str:
        """The chosen settings, or what is wrong with them."""
        numbers = [self.query_one(f"#{field}", Input) for field, *_ in NUMBERS]
        if problems := input_problems(*numbers):
            return problems
        targets = self.query_one("#targets", Input).value.strip() or "auto"
        if targets not in ("auto", "all-linear"):
            targets = tuple(name.strip() for name in targets.split(",") if name.strip())
        return PlanSettings(
            model=str(self.query_one("#model", Select).value), gpu=str(self.query_one("#gpu", Select).value),
            targets=targets, gradient_checkpointing=self.query_one("#checkpointing", Checkbox).value,
            **{field: int(box.value) for (field, *_), box in zip(NUMBERS, numbers)},
        )

    def replan(self) -> None:
        settings = self.settings()
        self.query_one("#message", Static).update(Text(settings if isinstance(settings, str) else "",
                                                       style="bold red"))
        if not isinstance(settings, str):
            self.query_one("#result", Static).update(COMPUTING)
            self.start_computing(settings)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.replan()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self.replan()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.replan()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        settings = self.settings()
        if not isinstance(settings, str):
            self.query_one("#measured", Static).update(Text("measuring: 20 training steps…", style="italic"))
            self.measure(settings)

    @work(thread=True, exclusive=True, group="measure")
    def measure(self, settings: PlanSettings) -> None:
        passed = None
        try:
            with HEAVY_WORK:
                result, passed = measured(settings)
        except (subprocess.TimeoutExpired, LabError) as exc:
            result = Text(f"the measurement did not finish: {exc}", style="bold red")
        self.app.call_from_thread(self.query_one("#measured", Static).update, result)
        if passed:
            self.post_message(MeasurementPassed(passed))
