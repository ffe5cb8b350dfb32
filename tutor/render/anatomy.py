"""What peft does to a model, as rich renderables: the wrapped model as a tree, its parameter
and byte accounting, the merge check and an adapter file weighed. `qlora-tutor inspect`,
`show` and the adapter-anatomy lesson's panels all draw these.
"""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree as RichTree

from tutor.engine.anatomy import AdapterCheck, Anatomy, MergeCheck, Node, summarize
from tutor.engine.presets import PRESETS
from tutor.units import decimal_bytes
from tutor.render import facts_table

ROW_COLUMNS = ("module", "in -> out", "lora_A", "lora_B", "per layer", "layers", "total")
ROLE_STYLES = {
    "lora_A": "bold green",
    "lora_B": "bold green",
    "lora": "yellow",
    "base_layer": "cyan",
    "dropout": "",
    "untouched": "dim",
    "container": "",
}


def size(n_bytes: int) -> str:
    return f"{n_bytes:,} bytes ({decimal_bytes(n_bytes)})"


def node_label(node: Node) -> Text:
    """One line per module: name, type, shape, and what it costs; trainable parts in green."""
    label = Text(node.name, style=ROLE_STYLES[node.role] or "bold")
    if node.repeat > 1:
        label.append(f"  ({node.repeat} identical)", style="bold")
    label.append(f"  {node.type_name}", style="italic")
    if node.shape:
        label.append(f"  {node.shape}")
    if node.role in ("lora_A", "lora_B"):
        label.append(f"  {node.trainable:,} trainable", style="bold green")
    elif node.role == "base_layer":
        label.append(f"  {node.frozen:,} frozen", style="dim")
    elif node.role == "untouched":
        # short enough that deep lines fit 80 columns
        label.append(f"  {node.frozen:,} untouched" if node.frozen else "  untouched", style="dim")
    elif node.role in ("lora", "container"):
        label.append(f"  {node.trainable:,} trainable", style="green")
    return label


def tree_renderable(anatomy: Anatomy, fold_layers: bool = True) -> RichTree:
    """The wrapped model as a rich tree; by default identical decoder layers fold into one."""

    def add(branch: RichTree, node: Node) -> None:
        for child in node.children:
            add(branch.add(node_label(child)), child)

    root = summarize(anatomy.tree) if fold_layers else anatomy.tree
    tree = RichTree(node_label(root))
    add(tree, root)
    return tree


def row_cells(anatomy: Anatomy) -> list[tuple[str, ...]]:
    """The per-module-type accounting, one tuple per row, then the sum over all targets."""
    cells = [
        (row.module, f"{row.in_features} -> {row.out_features}", f"{row.lora_a:,}", f"{row.lora_b:,}",
         f"{row.per_layer:,}", f"x {row.layers}", f"{row.total:,}")
        for row in anatomy.rows
    ]
    cells.append(("all targets", "", "", "", f"{sum(r.per_layer for r in anatomy.rows):,}", "",
                  f"{anatomy.trainable:,}"))
    return cells


def rows_table(anatomy: Anatomy) -> Table:
    table = Table(title=f"LoRA parameters, r = {anatomy.settings.rank}", title_justify="left",
                  caption="lora_A = in x r, lora_B = r x out, per layer = r x (in + out)", caption_justify="left",
                  box=box.SIMPLE_HEAD, show_edge=False, padding=0)
    for column in ROW_COLUMNS:
        table.add_column(column, justify="left" if column == "module" else "right", no_wrap=True)
    for cells in row_cells(anatomy):
        table.add_row(*cells)
    return table


def totals_table(anatomy: Anatomy) -> Table:
    table = facts_table()
    peft_verdict = (Text("agrees", style="bold green") if anatomy.agrees_with_peft
                    else Text("DISAGREES", style="bold red"))
    table.add_row("trainable parameters",
                  f"{anatomy.trainable:,} of {anatomy.total:,} ({anatomy.trainable_share:.3%})")
    table.add_row("peft's own count",
                  Text(f"{anatomy.peft_trainable:,} of {anatomy.peft_total:,}  ").append(peft_verdict))
    table.add_row("adapter, fp32", size(anatomy.adapter_bytes(4)))
    table.add_row("adapter, bf16", size(anatomy.adapter_bytes(2)))
    table.add_row("base parameters", f"{anatomy.base_params:,}")
    table.add_row("base, fp32", size(anatomy.base_bytes(4)))
    table.add_row("base, bf16", size(anatomy.base_bytes(2)))
    table.add_row("base, NF4 (estimate)", size(anatomy.base_nf4_bytes))
    return table


def anatomy_heading(anatomy: Anatomy) -> Text:
    where = "real weights, loaded in 4 bits" if anatomy.base_is_4bit else "meta device: shapes only, no memory"
    preset = PRESETS.get(anatomy.model_label)
    teaching = "  (a teaching model)" if preset and preset.teaching else ""
    return Text.assemble(
        (f"{anatomy.model_label}{teaching}", "bold"), f"  {anatomy.architecture}, {where}; ",
        f"r = {anatomy.settings.rank}, alpha = {anatomy.settings.alpha}, targets: {', '.join(anatomy.targets)}",
    )


def anatomy_report(anatomy: Anatomy, fold_layers: bool = True) -> RenderableType:
    return Group(anatomy_heading(anatomy), Text(), tree_renderable(anatomy, fold_layers), Text(),
                 rows_table(anatomy), Text(), totals_table(anatomy))


def merge_report(result: MergeCheck) -> RenderableType:
    verdict = (Text("equivalent", style="bold green") if result.equivalent
               else Text("NOT equivalent", style="bold red"))
    table = facts_table()
    table.add_row(f"W' vs W + {result.scaling:g} B A ({result.layer})", f"max difference {result.weight_error:.2e}")
    table.add_row("what the adapter changes", f"logits move by up to {result.adapter_effect:.3f}")
    table.add_row("merged vs base + adapter, fp32 base",
                  Text(f"max logit difference {result.merged_error:.2e} (tolerance {result.tolerance:g})  ")
                  .append(verdict))
    table.add_row("vs the trained model", "(the adapter on the NF4 base):")
    table.add_row("  merged, full-precision reload", f"max logit difference {result.reload_gap:.3f}")
    table.add_row("  merged, dequantized NF4", f"max logit difference {result.dequantized_merge_error:.1e}")
    table.add_row("  merged, requantized to NF4", f"max logit difference {result.merged_error_4bit:.3f}")
    return table


def adapter_file_report(check: AdapterCheck) -> RenderableType:
    adapter_file = check.file
    table = facts_table()
    table.add_row("run", f"{check.run_name}  ({check.anatomy.model_label}, r = {check.anatomy.settings.rank}, "
                  f"targets: {', '.join(check.anatomy.targets)})")
    table.add_row("computed", f"{check.anatomy.trainable:,} parameters x {adapter_file.bytes_per_param} bytes "
                  f"({'/'.join(adapter_file.dtypes)}) = {check.computed_bytes:,} bytes")
    table.add_row("in the file", f"{adapter_file.params:,} parameters, {adapter_file.tensor_bytes:,} bytes of tensors")
    table.add_row("file size", f"{adapter_file.file_bytes:,} bytes = tensors + {adapter_file.header_bytes:,} "
                  "bytes of header (tensor names, shapes, offsets)")
    table.add_row("verdict", Text("matches", style="bold green") if check.matches
                  else Text("does not match: the adapter was saved with other settings", style="bold red"))
    return table

