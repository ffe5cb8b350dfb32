"""Pilot tests of the four theory lessons' panels: type, pick, wait, read the screen."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.measure import Measurement
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Input, Select, Static

from tutor.engine.memory import activation_bytes, nearest_preset
from lessons.panels.lora_rank import RankCounter, SvdRankPlot, ZeroInitPanel
from lessons.panels.nf4 import DoubleQuantPanel, FormatErrorPanel, NF4HistogramPanel, NF4LevelsPanel
from lessons.panels.quantization import AbsmaxCalculator, CosineRoundTripPlot, OutlierPanel
from lessons.panels.why_qlora import MemoryBillPanel
from lessons.reports.lora_rank import whole_number_ticks
from lessons.reports.why_qlora import format_gb
from tutor.engine.lessons import find_lesson, resolve_report

SIZES = [(80, 24), (160, 50)]


class Harness(App):
    """The panel inside a scrolling column, as the lesson screen mounts it."""

    def __init__(self, panel_class) -> None:
        super().__init__()
        self.panel_class = panel_class

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield self.panel_class()


def as_text(renderable, width: int = 120) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def shown(app: App, selector: str) -> str:
    return as_text(app.query_one(selector, Static).content)


async def settle(app: App, pilot) -> None:
    """Workers done, then the layout at rest: a result that arrives can add a scroll bar, which
    narrows the content and lays it out again, so wait until what scrolls keeps its size over
    one more refresh."""
    await app.workers.wait_for_complete()
    await pilot.pause()
    previous = None
    for _ in range(50):
        current = [(scroll.virtual_size, scroll.size) for scroll in app.query(VerticalScroll)]
        if current == previous:
            return
        previous = current
        await pilot.pause()
    raise AssertionError(f"the layout did not settle: {current}")


async def type_into(pilot, app: App, selector: str, text: str) -> None:
    field = app.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)
    await pilot.pause()


def assert_nothing_cut_off(app: App, width: int) -> None:
    """No horizontal scrolling, and every Static's content fits the width it was given."""
    assert app.query_one(VerticalScroll).max_scroll_x == 0
    for static in app.query(Static):
        if static.content_region.width:
            console = Console(width=width)
            needed = Measurement.get(console, console.options, static.content).minimum
            assert needed <= static.content_region.width, (static.id, needed, static.content_region.width)


async def test_memory_bill_shows_the_65b_figures_and_follows_input():
    app = Harness(MemoryBillPanel)
    async with app.run_test(size=(80, 24)) as pilot:
        bill = shown(app, "#bill")
        assert "130.0 GB" in bill and "780.9 GB" in bill and "1,040.9 GB" in bill and "fits 48 GB" in bill
        await type_into(pilot, app, "#size", "7")
        bill = shown(app, "#bill")
        assert "Memory bill, 7B" in bill and "14.0 GB" in bill
        verdicts = next(line for line in bill.splitlines() if "fits" in line)
        assert [cell.strip() for cell in verdicts.split("│")[3:]] == ["fits 24 GB", "fits 16 GB"]  # 16-bit LoRA: 14.5 GB + headroom
        await type_into(pilot, app, "#size", "abc")
        assert "size: a number of billions" in shown(app, "#message")
        assert "Memory bill, 7B" in shown(app, "#bill")  # the last good bill stays
        app.query_one("#preset", Select).value = "13B"
        await pilot.pause()
        assert app.query_one("#size", Input).value == "13"
        assert "26.0 GB" in shown(app, "#bill") and shown(app, "#message").strip() == ""


async def test_memory_bill_reacts_to_batch_and_checkpointing():
    app = Harness(MemoryBillPanel)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_into(pilot, app, "#size", "7")
        before = shown(app, "#bill")
        app.query_one("#checkpointing").value = False
        await pilot.pause()
        after = shown(app, "#bill")
        shape = nearest_preset(7e9).shape
        with_checkpointing = format_gb(activation_bytes(shape, 1, 512, True))
        without = format_gb(activation_bytes(shape, 1, 512, False))
        assert with_checkpointing in before and with_checkpointing not in after
        assert without in after and "checkpointing off" in after


async def test_absmax_calculator_round_trips_0_622():
    app = Harness(AbsmaxCalculator)
    async with app.run_test(size=(80, 24)) as pilot:
        result = shown(app, "#result")
        assert "rounds to 4" in result and "4 / 7 = 0.571429" in result
        await type_into(pilot, app, "#bits", "8")
        result = shown(app, "#result")
        assert "rounds to 79" in result and "79 / 127 = 0.622047" in result
        await type_into(pilot, app, "#bits", "9")
        assert "bits: a whole number from 2 to 8" in shown(app, "#message")
        await type_into(pilot, app, "#value", "1.5")
        assert "value: a number between -1 and 1" in shown(app, "#message")
        await type_into(pilot, app, "#bits", "4")
        await type_into(pilot, app, "#value", "0.9")
        assert "rounds to 6" in shown(app, "#result") and shown(app, "#message").strip() == ""


async def test_cosine_plot_compares_the_chosen_width():
    app = Harness(CosineRoundTripPlot)
    async with app.run_test(size=(80, 24)) as pilot:
        assert "4-bit" in shown(app, "#errors")
        app.query_one("#coarse", Select).value = 2
        await pilot.pause()
        errors = shown(app, "#errors")
        assert "2-bit" in errors and "8-bit" in errors and "4-bit" not in errors


async def test_outlier_collapses_small_values_at_4_bits():
    app = Harness(OutlierPanel)
    async with app.run_test(size=(80, 24)) as pilot:
        assert "255 levels available" in shown(app, "#result")
        await type_into(pilot, app, "#bits", "4")
        row = next(line for line in shown(app, "#result").splitlines() if "+ outlier 20" in line)
        assert row.split("│")[3].strip() == "1"


async def test_nf4_levels_match_bitsandbytes_on_screen():
    app = Harness(NF4LevelsPanel)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        table = shown(app, "#result")
        assert "-0.6962" in table and "+0.7230" in table and "computing" not in table


async def test_histogram_reports_level_usage():
    app = Harness(NF4HistogramPanel)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert "NF4 : 16 levels" in shown(app, "#result")


async def test_format_table_switches_distribution():
    app = Harness(FormatErrorPanel)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert "normal values" in shown(app, "#result")
        app.query_one("#distribution", Select).value = "uniform"
        await pilot.pause()
        await settle(app, pilot)
        table = shown(app, "#result")
        assert "uniform values" in table and "block 256" in table


async def test_double_quant_measured_and_saving_for_a_typed_size():
    app = Harness(DoubleQuantPanel)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        constants = shown(app, "#constants")
        assert constants.count("0.5000") == 2 and constants.count("0.1270") == 2
        assert "3.03 GB saved" in shown(app, "#saving")
        await type_into(pilot, app, "#size", "33")
        assert "1.54 GB saved" in shown(app, "#saving")
        await type_into(pilot, app, "#size", "-1")
        assert "size: a number of billions" in shown(app, "#saving")


async def test_rank_counter_follows_d_and_r():
    app = Harness(RankCounter)
    async with app.run_test(size=(80, 24)) as pilot:
        assert "16,777,216" in shown(app, "#result") and "131,072" in shown(app, "#result")
        await type_into(pilot, app, "#rank", "8")
        assert "= 65,536" in shown(app, "#result")
        await type_into(pilot, app, "#rank", "5000")
        assert "r cannot exceed d" in shown(app, "#message")


async def test_svd_plot_reads_the_chosen_rank():
    app = Harness(SvdRankPlot)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert "r = 8: relative error 4.32%" in shown(app, "#result")
        await type_into(pilot, app, "#rank", "16")
        assert "r = 16: relative error 3.30%" in shown(app, "#result")
        assert "parameters kept 2 x 64 x 16 / 64^2 = 50.0%" in shown(app, "#result")
        await type_into(pilot, app, "#rank", "40")
        assert "r: a whole number from 1 to 32" in shown(app, "#result")


async def test_zero_init_check_on_screen():
    app = Harness(ZeroInitPanel)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        table = shown(app, "#result")
        assert "0 (identical)" in table and "2 = alpha / r = 16 / 8" in table
        await type_into(pilot, app, "#alpha", "32")
        await settle(app, pilot)
        assert "4 = alpha / r = 32 / 8" in shown(app, "#result")


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(
    "panel",
    [MemoryBillPanel, AbsmaxCalculator, CosineRoundTripPlot, OutlierPanel, NF4LevelsPanel,
     FormatErrorPanel, DoubleQuantPanel, RankCounter, ZeroInitPanel],
    ids=lambda p: p.__name__,
)
async def test_nothing_cut_off(panel, size):
    app = Harness(panel)
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        assert_nothing_cut_off(app, size[0])


async def test_memory_bill_takes_the_papers_65b_recipe():
    app = Harness(MemoryBillPanel)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_into(pilot, app, "#size", "7")
        await pilot.click("#paper-recipe")
        await pilot.pause()
        bill = shown(app, "#bill")
        assert app.query_one("#rank", Input).value == "64"
        assert "Memory bill, 65B" in bill and "48.0 GB" in bill and "48 GB paged" in bill
        app.query_one("#optimizer", Select).value = "adamw"
        await pilot.pause()
        assert "48 GB paged" not in shown(app, "#bill") and "fits 80 GB" in shown(app, "#bill")
        await type_into(pilot, app, "#rank", "0")
        assert "rank: a whole number" in shown(app, "#message")


async def test_memory_bill_controls_fit_the_lesson_column_at_80_columns():
    from tutor.ui.app import create_app

    app = create_app(start_lesson="why-qlora")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(MemoryBillPanel)
        inside = panel.content_region
        for control in panel.query("Button, Select, Input, Checkbox"):
            assert control.region.right <= inside.right, control.id


async def test_memory_bill_follows_a_typed_size():
    app = Harness(MemoryBillPanel)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_into(pilot, app, "#size", "33")
        assert "Memory bill, 33B" in shown(app, "#bill")


@pytest.mark.parametrize(
    ("slug", "pinned"),
    [
        ("why-qlora", ["130.0 GB", "780.9 GB", "1,040.9 GB", "fits 48 GB", "48 GB paged", "fits 16 GB",
                       "LoRA r=64 on all linear"]),
        ("quantization", ["rounds to 4", "0.571429", "rounds to 79", "0.622047", "8-bit", "4-bit"]),
        ("nf4", ["-0.6962", "0.5000", "0.1270", "3.03 GB saved", "block 256"]),
        ("lora-rank", ["16,777,216", "131,072", "0 (identical)", "4.32%"]),
    ],
)
def test_reports_print_the_pinned_figures(slug, pinned):
    reports = [
        as_text(resolve_report(seg.panel)())
        for seg in find_lesson(slug).segments
        if seg.panel
    ]
    text = "\n".join(reports)
    missing = [figure for figure in pinned if figure not in text]
    assert not missing


def test_lessons_have_checks_and_no_placeholder():
    for slug in ("why-qlora", "quantization", "nf4", "lora-rank"):
        lesson = find_lesson(slug)
        assert not lesson.coming and 2 <= len(lesson.quiz) <= 4
        assert any(seg.panel for seg in lesson.segments)


@pytest.mark.parametrize("low, high, ticks", [(1, 32, [1, 10, 20, 30]), (1, 8, [1, 2, 4, 6, 8]), (1, 1, [1])])
def test_rank_plot_ticks_are_whole_numbers(low, high, ticks):
    assert whole_number_ticks(low, high) == ticks
