"""The run planner's prediction, and its checks against measurements, as Rich renderables."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from tutor.engine.planner import Check, Plan
from tutor.render import facts_table

GB = 1e9


def gb(n_bytes: float) -> str:
    return f"{n_bytes / GB:,.2f} GB"


def plan_table(plan: Plan) -> Table:
    s = plan.settings
    targets = s.targets if isinstance(s.targets, str) else ",".join(s.targets)
    table = Table(title=f"{plan.model_label} on {plan.gpu.label}: r {s.rank}, alpha {s.alpha}, {targets}, "
                        f"batch {s.batch_size} x {s.max_length}", title_justify="left")
    table.add_column("predicted peak memory")
    table.add_column("", justify="right")
    for name, n_bytes in plan.bill.items():
        table.add_row(name, gb(n_bytes))
    table.add_row(Text("peak (torch allocated)", style="bold"), Text(gb(plan.peak), style="bold"))
    table.add_row("+ headroom (allocator reserve, CUDA context)", gb(plan.headroom))
    table.add_row(Text("needed", style="bold"), Text(f"{gb(plan.needed)} of {gb(plan.gpu.memory_bytes)}", style="bold"))
    return table


def verdict(plan: Plan) -> Text:
    if plan.fits:
        return Text(f"fits: {gb(plan.gpu.memory_bytes - plan.needed)} to spare", style="bold green")
    return Text(f"does not fit: {gb(plan.needed - plan.gpu.memory_bytes)} short. Lower the batch size or max "
                "length, or keep gradient checkpointing on", style="bold red")


def plan_renderable(plan: Plan) -> Group:
    s = plan.settings
    facts = facts_table()
    facts.add_row("trainable", f"{plan.trainable:,} of {plan.total_params:,} parameters "
                               f"({plan.trainable / plan.total_params:.2%})")
    facts.add_row("adapter file", f"{plan.adapter_file_bytes / 1e6:,.1f} MB (fp32)")
    speed = plan.speed
    facts.add_row("speed", f"~{plan.tokens_per_s:,.0f} tokens/s, ~{plan.step_seconds:.2f} s a step "
                           f"({s.batch_size * s.max_length:,} tokens)")
    facts.add_row("", f"host {speed.host_s:.2f} s ({plan.layers} layers x {speed.host_s / plan.layers * 1e3:.1f} ms) "
                      f"+ GPU {speed.compute_s:.2f} s (at {speed.achieved_flops / 1e12:,.0f} TFLOP/s)")
    facts.add_row("", Text(f"estimate: {speed.basis}", style="dim"))
    notes = []
    if not plan.gpu.bf16:
        notes.append(Text(f"{plan.gpu.label} has no bf16: the lab computes in fp16 there", style="yellow"))
    if not s.gradient_checkpointing:
        notes.append(Text("gradient checkpointing off: every layer keeps its activations", style="yellow"))
    return Group(plan_table(plan), verdict(plan), *notes, facts)


def checks_table(checks: list[Check], title: str, caption: str = "") -> Table:
    table = Table(title=title, title_justify="left", caption=caption or None, caption_justify="left")
    for column in ("plan", "peak predicted", "peak measured", "error", "tokens/s predicted", "measured"):
        table.add_column(column, justify="left" if column == "plan" else "right")
    for check in checks:
        style = "green" if check.within else "red"
        table.add_row(check.label, gb(check.predicted_peak), gb(check.measured_peak),
                      Text(f"{check.peak_error:+.1%}", style=style),
                      f"{check.predicted_tokens_per_s:,.0f}", f"{check.measured_tokens_per_s:,.0f}")
    return table
