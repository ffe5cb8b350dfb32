"""The plan-your-run lesson's views: the planner's prediction for a run, and the planner
against this project's committed GPU measurements."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table

from tutor.engine.errors import LabError
from tutor.engine.planner import PlanSettings, committed_checks, plan
from tutor.render import error_text
from tutor.render.plan_report import checks_table, plan_renderable

DEFAULTS = PlanSettings(model="qwen3-1.7b", gpu="t4")


def predicted(settings: PlanSettings) -> RenderableType:
    try:
        return plan_renderable(plan(settings))
    except LabError as exc:
        return error_text(exc)


def committed_checks_table() -> Table:
    return checks_table(committed_checks(), "planner vs committed measurements")


def plan_report() -> RenderableType:
    return Group(predicted(DEFAULTS), committed_checks_table())


REPORTS = {"PlanPanel": plan_report}
