"""The training-speed figures the README, lesson 7 and docs/benchmarks.md quote are the ones
the committed H200 result files give: recomputed here from the files, then looked up in the text."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def figures(name: str) -> dict:
    results = json.loads((RESULTS / name).read_text())["results"]
    by_config: dict[str, list[dict]] = {}
    for result in results:
        by_config.setdefault(result["config"], []).append(result)
    speeds = {config: [run["tokens_per_s"] for run in runs] for config, runs in by_config.items()}
    peak = {config: runs[0]["peak_allocated_bytes"] / 2**30 for config, runs in by_config.items()}
    curves = {config: runs[0]["losses"] for config, runs in by_config.items()}
    stock, tutor = curves.get("stock-best", curves["tutor"]), curves["tutor"]
    return {
        "median": {config: statistics.median(values) for config, values in speeds.items()},
        "best": {config: max(values) for config, values in speeds.items()},
        "repeats": {config: len(values) for config, values in speeds.items()},
        "peak": peak,
        "loss_gap": sum(abs(a - b) for a, b in zip(tutor, stock)) / len(stock),
        "losses": curves,
    }


@pytest.fixture(scope="module")
def llama():
    return figures("train-speed-llama2-7b-h200-2026-12-02.json")


@pytest.fixture(scope="module")
def qwen():
    return figures("train-speed-qwen2-1.5b-h200-2026-12-02.json")


@pytest.fixture(scope="module")
def qwen_now():
    return figures("train-speed-qwen2-1.5b-cublas-h200-2026-12-03.json")


def test_the_targets_of_the_speed_issue_in_the_committed_runs(llama, qwen):
    assert llama["repeats"]["tutor"] == llama["repeats"]["stock-best"] == 3
    assert llama["median"]["tutor"] / llama["median"]["stock-best"] >= 1.6
    assert qwen["median"]["tutor"] / qwen["median"]["stock-best"] >= 1.6
    assert llama["peak"]["tutor"] / llama["peak"]["notebook"] <= 1.05
    assert llama["loss_gap"] < 0.02 and qwen["loss_gap"] < 0.02


def test_the_readme_and_lesson_7_quote_the_llama_run(llama):
    median, best = llama["median"], llama["best"]
    quoted = [f"{median['tutor']:,.0f}", f"{median['stock-best']:,.0f}", f"{median['notebook']:,.0f}",
              f"{median['tutor'] / median['stock-best']:.1f}x", f"{best['tutor'] / best['stock-best']:.1f}x"]
    readme = (ROOT / "README.md").read_text()
    lesson = (ROOT / "lessons" / "07-lab-train.md").read_text()
    for figure in quoted:
        assert figure in readme, figure
    for figure in quoted[2:] + [f"{median['tutor+eager']:,.0f}", f"{llama['peak']['tutor']:.2f} GiB"]:
        assert figure in lesson, figure
    planning = (ROOT / "lessons" / "10-plan-your-run.md").read_text()
    assert f"{median['tutor']:,.0f} tokens/s with it and {median['tutor+eager']:,.0f} without" in planning


def test_the_benchmark_page_gives_both_shapes_ratios_and_memory(llama, qwen):
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    for shape in (llama, qwen):
        assert f"{shape['median']['tutor'] / shape['median']['stock-best']:.2f}x" in page
        assert f"{shape['peak']['tutor'] / shape['peak']['notebook']:.3f}x" in page
        assert f"{shape['median']['tutor']:,.0f} ({shape['best']['tutor']:,.0f})" in page


def test_the_benchmark_page_quotes_unsloth_measured_like_for_like(llama, qwen, qwen_now):
    """Unsloth's rows as recorded: one micro-batch a step (as many loss records as steps) and the
    same first batch as stock-best; the ratios against the other configs recomputed."""
    report = json.loads((RESULTS / "unsloth-speed-h200-2026-12-03.json").read_text())
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    medians = {}
    for shape, label in {"llama2-7b": "Llama-2-7B", "qwen2-1.5b": "Qwen2-1.5B"}.items():
        runs = [r for r in report["results"] if r["model"] == shape and r["config"] == "unsloth"]
        assert len(runs) == 2
        assert all(r["settings"]["gradient_accumulation_steps"] == 1 and len(r["losses"]) == len(r["step_seconds"])
                   for r in runs)
        recorded = " / ".join(f"{r['tokens_per_s']:,.0f}" for r in runs)
        row = next(line for line in page.splitlines() if line.startswith(f"| {label} | unsloth | 2 | {recorded} |"))
        assert f"| {runs[0]['peak_allocated_bytes'] / 2**30:.2f} |" in row
        medians[shape] = statistics.median(r["tokens_per_s"] for r in runs)
    unsloth_first = next(r["losses"][0] for r in report["results"] if r["model"] == "llama2-7b")
    assert round(unsloth_first, 3) == round(llama["losses"]["stock-best"][0], 3)  # the same first batch
    seven, small = medians["llama2-7b"], medians["qwen2-1.5b"]
    assert f"median {seven:,.0f} tokens/s is **{seven / llama['median']['stock-best']:.2f}x**" in page
    assert f"the tutor's {llama['median']['tutor']:,.0f} there is **{llama['median']['tutor'] / seven:.1f}x**" in page
    assert f"median {small:,.0f} tokens/s is {small / qwen['median']['stock-best']:.2f}x" in page
    default = qwen_now["median"]["tutor+cublas"]
    assert f"({default:,.0f}) is **{default / small:.1f}x** it" in page


def test_freeing_cublas_workspaces_brings_the_second_shape_under_the_memory_target(qwen_now):
    """The 2026-12-02 file missed 1.05x on Qwen2-1.5B; the same trainer with the workspaces freed
    (today's default) meets it, at the same loss, and the page quotes both."""
    peak, median = qwen_now["peak"], qwen_now["median"]
    assert qwen_now["repeats"]["tutor+cublas"] == qwen_now["repeats"]["tutor"] == 3
    assert peak["tutor"] / peak["notebook"] > 1.05 >= peak["tutor+cublas"] / peak["notebook"]
    assert qwen_now["losses"]["tutor"] == qwen_now["losses"]["tutor+cublas"]
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    for config, label in (("tutor", "tutor, workspaces kept"), ("tutor+cublas", "tutor, workspaces freed (the default now)")):
        row = next(line for line in page.splitlines() if line.strip().startswith(f"| {label} | 3 |"))
        assert f"{median[config]:,.0f} ({qwen_now['best'][config]:,.0f})" in row
        assert f"{peak[config]:.3f}" in row and f"{peak[config] / peak['notebook']:.3f}x" in row


def test_the_benchmark_page_quotes_three_rounds_of_tui_vs_headless():
    report = json.loads((RESULTS / "tui-vs-headless-qwen2-1.5b-h200-2026-12-02.json").read_text())
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    counted = [run for run in report["runs"] if run.get("round")]
    assert len(counted) == 6 and report["within"] and report["device"] == "cuda"
    medians = report["median_tokens_per_s"]
    assert f"headless {medians['headless']:,.0f} tokens/s, TUI {medians['tui']:,.0f}" in page
    assert f"TUI / headless = {report['ratio']:.3f}, within the 3 % band" in page
