"""The adapter-anatomy lesson's panels: the wrapped model as a tree, its parameter and byte
accounting, the merge check on tiny, and a finished lab run's adapter file on disk.

Building a model (even on the meta device) imports torch and transformers, so it runs in a
thread worker; what the panels draw comes from tutor.render.anatomy, which `qlora-tutor
inspect` prints too, and `lessons.reports.anatomy` is what `qlora-tutor show` prints here.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import shorten

from rich.console import RenderableType
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.validation import Integer
from textual.widgets import Button, DataTable, Input, Select, Static, Tree

from lessons.panels.common import HEAVY_WORK
from lessons.reports.anatomy import DEFAULT_MODEL, DEFAULT_RANK, no_run_text
from tutor.engine.anatomy import (
    Anatomy, LoraSettings, MergeCheck, Node, adapter_runs, check_adapter, check_merge, inspect_model, tiny_folder,
)
from tutor.engine.errors import LabError
from tutor.engine.presets import PRESETS
from tutor.render import error_text
from tutor.render.anatomy import (
    ROW_COLUMNS, adapter_file_report, anatomy_heading, merge_report, node_label, row_cells, totals_table,
)

CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")


class AnatomyPanel(Vertical):
    """Pick a model, a rank and targets; see the wrapped model and count every parameter."""

    DEFAULT_CSS = CSS
    requested: tuple | None = None

    class Built(Message):
        def __init__(self, request: tuple, anatomy: Anatomy | None, error: LabError | None) -> None:
            super().__init__()
            self.request, self.anatomy, self.error = request, anatomy, error

    def compose(self) -> ComposeResult:
        yield Select([(f"{name}  {shorten(p.description, 44, placeholder='…')}", name)
                      for name, p in PRESETS.items()], value=DEFAULT_MODEL, allow_blank=False, id="model")
        with Horizontal(classes="controls"):
            yield Input(str(DEFAULT_RANK), id="rank", validators=[Integer(1, 4096, "rank: a whole number, 1 to 4096")])
            yield Input("auto", id="targets", placeholder="auto | all-linear | q_proj,v_proj")
        yield Static(id="status")
        yield Tree("model", id="tree")
        yield DataTable(id="rows", zebra_stripes=True, cursor_type="none")
        yield Static(id="totals")

    def on_mount(self) -> None:
        tree = self.query_one("#tree", Tree)
        tree.guide_depth = 2  # narrow guides and no root line (the heading names the model):
        tree.show_root = False  # the deepest lines then fit 80 columns
        self.query_one("#rank", Input).border_title = "rank r (Enter)"
        self.query_one("#targets", Input).border_title = "targets (Enter)"
        self.query_one("#rows", DataTable).add_columns(*ROW_COLUMNS)
        self.rebuild()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.rebuild()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.rebuild()

    def current_request(self) -> tuple[str, int, str | tuple[str, ...]] | str:
        """The current choice as (model, rank, targets), or a message saying what is wrong."""
        rank_input = self.query_one("#rank", Input)
        problems = rank_input.validate(rank_input.value).failure_descriptions
        if problems:
            return "; ".join(problems)
        targets = self.query_one("#targets", Input).value.strip() or "auto"
        if targets not in ("auto", "all-linear"):
            targets = tuple(name.strip() for name in targets.split(",") if name.strip())
        return str(self.query_one("#model", Select).value), int(rank_input.value), targets

    def rebuild(self) -> None:
        request = self.current_request()
        status = self.query_one("#status", Static)
        if isinstance(request, str):
            status.update(Text(request, style="bold red"))
            self.requested = None
            return
        if request == self.requested:
            return  # e.g. the Select's change event on mount, right after on_mount's build
        self.requested = request
        status.update(Text(f"building {request[0]} with r = {request[1]}…", style="italic"))
        self.build(request)

    @work(thread=True, exclusive=True)
    def build(self, request: tuple) -> None:
        model, rank, targets = request
        try:
            with HEAVY_WORK:  # one at a time: see lessons.panels.common
                anatomy = inspect_model(model, LoraSettings(rank=rank, targets=targets))
        except LabError as exc:
            self.post_message(self.Built(request, None, exc))
            return
        self.post_message(self.Built(request, anatomy, None))

    def on_anatomy_panel_built(self, message: Built) -> None:
        if message.request != self.current_request():
            return  # the learner changed the choice while this one was building
        status = self.query_one("#status", Static)
        if message.error is not None:
            status.update(error_text(message.error))
            return
        anatomy = message.anatomy
        status.update(anatomy_heading(anatomy))
        self.show_tree(anatomy.tree)
        table = self.query_one("#rows", DataTable)
        table.clear()
        for cells in row_cells(anatomy):
            table.add_row(*cells)
        self.query_one("#totals", Static).update(totals_table(anatomy))

    def show_tree(self, root_node: Node) -> None:
        """The full tree; the first decoder layer and the path down to it start expanded."""
        tree = self.query_one("#tree", Tree)
        tree.reset(node_label(root_node), root_node)

        def add(branch, node: Node, expand: bool) -> None:
            for index, child in enumerate(node.children):
                if child.children:
                    open_it = expand and (node.type_name != "ModuleList" or index == 0)
                    add(branch.add(node_label(child), child, expand=open_it), child, open_it)
                else:
                    branch.add_leaf(node_label(child), child)

        add(tree.root, root_node, True)
        tree.root.expand()


class MergePanel(Vertical):
    """Merge a random adapter into tiny and compare logits with the unmerged model."""

    DEFAULT_CSS = CSS

    class Checked(Message):
        def __init__(self, result: MergeCheck | None, error: LabError | None) -> None:
            super().__init__()
            self.result, self.error = result, error

    def compose(self) -> ComposeResult:
        yield Button("Merge on tiny and compare logits", id="merge", variant="primary")
        yield Static(id="merge-result")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        event.button.disabled = True
        self.query_one("#merge-result", Static).update(Text("loading tiny in fp32, in NF4 and dequantized…", style="italic"))
        self.run_check()

    @work(thread=True, exclusive=True)
    def run_check(self) -> None:
        try:
            with HEAVY_WORK:
                result = check_merge(tiny_folder(), LoraSettings(rank=8, alpha=16))
            self.post_message(self.Checked(result, None))
        except LabError as exc:
            self.post_message(self.Checked(None, exc))

    def on_merge_panel_checked(self, message: Checked) -> None:
        self.query_one("#merge", Button).disabled = False
        result = self.query_one("#merge-result", Static)
        result.update(error_text(message.error) if message.error else merge_report(message.result))


class AdapterFilePanel(Vertical):
    """A finished lab run's adapter_model.safetensors next to the size computed for it."""

    DEFAULT_CSS = CSS

    class Checked(Message):
        def __init__(self, run: str, body: RenderableType) -> None:
            super().__init__()
            self.run, self.body = run, body

    def compose(self) -> ComposeResult:
        runs = adapter_runs()
        if runs:
            yield Select([(run.name, str(run)) for run in runs], value=str(runs[0]), allow_blank=False, id="run")
        yield Static(Text("weighing…", style="italic") if runs else no_run_text(), id="file-result")

    def on_mount(self) -> None:
        if self.query("#run"):
            self.weigh(str(self.query_one("#run", Select).value))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.query_one("#file-result", Static).update(Text("weighing…", style="italic"))
        self.weigh(str(event.value))

    @work(thread=True, exclusive=True)
    def weigh(self, run: str) -> None:
        try:
            with HEAVY_WORK:
                body = adapter_file_report(check_adapter(Path(run)))
        except LabError as exc:
            body = error_text(exc)
        self.post_message(self.Checked(run, body))

    def on_adapter_file_panel_checked(self, message: Checked) -> None:
        if str(self.query_one("#run", Select).value) == message.run:
            self.query_one("#file-result", Static).update(message.body)
