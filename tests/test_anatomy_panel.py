"""Pilot tests of the adapter-anatomy panels: tree, table, rank changes, the no-run state."""

from __future__ import annotations

import io

from rich.console import Console
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Input, Static, Tree

from lessons.panels.anatomy import AdapterFilePanel, AnatomyPanel
from lessons.reports.anatomy import TRAINING_LESSON, model_report


class PanelApp(App):
    def __init__(self, panel_type: type) -> None:
        super().__init__()
        self.panel_type = panel_type

    def compose(self) -> ComposeResult:
        yield self.panel_type()


async def settle(app: App, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


def plain(static: Static) -> str:
    """What a Static shows, as plain text (its content may be a rich Table or Text)."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(static.content)
    return console.export_text()


def table_rows(app: App) -> dict[str, list[str]]:
    table = app.query_one("#rows", DataTable)
    return {str(row[0]): [str(cell) for cell in row] for row in (table.get_row_at(i) for i in range(table.row_count))}


def find(node, *path: str):
    """Follow tree children whose label starts with each name in turn."""
    for name in path:
        node = next(child for child in node.children if child.label.plain.split()[0] == name)
    return node


async def test_tree_and_table_for_llama_8b_then_rank_change():
    app = PanelApp(AnatomyPanel)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(app, pilot)
        rows = table_rows(app)
        assert rows["q_proj"] == ["q_proj", "4096 -> 4096", "131,072", "131,072", "262,144", "x 32", "8,388,608"]
        assert rows["k_proj"][1:] == ["4096 -> 1024", "131,072", "32,768", "163,840", "x 32", "5,242,880"]
        assert rows["all targets"][4:] == ["851,968", "", "27,262,976"]

        root = app.query_one("#tree", Tree).root
        assert root.label.plain.startswith("llama-3.1-8b")
        layers = find(root, "model", "layers")
        assert len(layers.children) == 32
        q_proj = find(layers, "0", "self_attn", "q_proj")
        labels = [child.label.plain for child in q_proj.children]
        assert labels[0].startswith("base_layer  Linear  4096 -> 4096  16,777,216 frozen")
        assert labels[1] == "lora_A.default  Linear  4096 -> 32  131,072 trainable"
        assert labels[2] == "lora_B.default  Linear  32 -> 4096  131,072 trainable"
        assert "untouched" in find(layers, "0", "mlp").label.plain
        assert "peft's own count" in plain(app.query_one("#totals", Static))

        rank = app.query_one("#rank", Input)
        rank.value = "8"
        rank.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        rows = table_rows(app)
        assert rows["q_proj"][2:] == ["32,768", "32,768", "65,536", "x 32", "2,097,152"]
        assert rows["all targets"][6] == "6,815,744"  # a quarter of r = 32's, as peft counts
        q_proj = find(app.query_one("#tree", Tree).root, "model", "layers", "0", "self_attn", "q_proj")
        assert q_proj.children[1].label.plain == "lora_A.default  Linear  4096 -> 8  32,768 trainable"


async def test_rank_zero_and_unknown_target_explain_themselves():
    app = PanelApp(AnatomyPanel)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(app, pilot)
        status = app.query_one("#status", Static)
        rank = app.query_one("#rank", Input)
        rank.value = "0"
        rank.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert "rank: a whole number, 1 to 4096" in plain(status)
        assert table_rows(app)["all targets"][6] == "27,262,976"  # the last good result stays

        rank.value = "16"
        targets = app.query_one("#targets", Input)
        targets.value = "q_proj,query_key_value"
        targets.focus()
        await pilot.press("enter")
        await settle(app, pilot)
        message = plain(status)
        assert "query_key_value" in message and "gate_proj" in message  # the candidates are listed


async def test_adapter_file_panel_without_runs_names_the_training_lesson():
    app = PanelApp(AdapterFilePanel)
    async with app.run_test(size=(100, 20)) as pilot:
        await settle(app, pilot)
        text = plain(app.query_one("#file-result", Static))
        assert "No finished lab run yet" in text and TRAINING_LESSON in text


async def test_adapter_file_panel_weighs_a_finished_run():
    from transformers import AutoModelForCausalLM, LlamaConfig

    from tutor.engine.anatomy import LoraSettings, wrap_with_lora
    from tutor.paths import runs_dir

    base_dir = runs_dir().parent / "base"
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=256)
    AutoModelForCausalLM.from_config(config).save_pretrained(base_dir)
    model = wrap_with_lora(AutoModelForCausalLM.from_pretrained(base_dir), LoraSettings(rank=4))
    model.save_pretrained(runs_dir() / "run-001" / "adapter")

    app = PanelApp(AdapterFilePanel)
    async with app.run_test(size=(100, 20)) as pilot:
        await settle(app, pilot)
        text = plain(app.query_one("#file-result", Static))
        # r = 4 on q/k/v/o (64 -> 64, 64 -> 32): 2 layers x 4 x (128 + 96 + 96 + 128) = 3,584
        assert "3,584 parameters x 4 bytes (F32) = 14,336 bytes" in text
        assert "matches" in text and "does not match" not in text


def test_report_is_the_llama_8b_r32_accounting():
    from rich.console import Console

    console = Console(width=140, record=True)
    console.print(model_report())
    text = console.export_text()
    assert "0-31  (32 identical)" in text
    assert "27,262,976 of 8,057,524,224" in text
    assert "109,051,904 bytes (109.1 MB)" in text
