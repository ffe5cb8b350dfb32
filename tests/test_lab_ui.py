"""The lab screens, driven with Pilot against a fake runner (fast) and once against the real
engine on the tiny model (slow)."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text
from textual.widgets import Button, Input, Select, Static, Switch

from conftest import click_in_view as click, wait_until
from fakes import ANSWERS, HELD_OUT_PROMPT, PROMPT, FakeRunner
from lessons.panels.lab_baseline import LabBaselinePanel
from lessons.panels.lab_compare import LabComparePanel
from lessons.panels.lab_train import LabTrainPanel
from lessons.reports.lab_baseline import presets_table
from lessons.reports.lab_compare import trained_adapters_report
from lessons.reports.lab_train import recipe_report
from tutor.ui.app import create_app
from tutor.ui.widgets.answer_pairs import AnswerPairs, underline_runs, word_diff
from tutor.ui.widgets.gpu_gauge import GpuGauge
from tutor.ui.widgets.loss_chart import LossChart
from tutor.ui.widgets.model_footprint import ModelFootprint
from tutor.ui.widgets.run_log import RunLog
from tutor.ui.widgets.stream_view import StreamView

SIZE = (130, 60)


def plain(renderable) -> str:
    console = Console(width=SIZE[0], record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def shown(widget: Static) -> str:
    return plain(widget.content)


def log_text(log: RunLog) -> str:
    return "\n".join(strip.text for strip in log.lines)


def ended(panel) -> bool:
    """The panel has shown its run's last event (the log's `■ run ...` line): every pane is done."""
    return "■ run" in log_text(panel.query_one(RunLog))


async def type_into(pilot, selector: str, text: str) -> None:
    field = pilot.app.screen.query_one(selector, Input)
    field.scroll_visible(animate=False)
    field.value = ""
    field.focus()
    await pilot.press(*text)


def train_panes(app):
    panel = app.screen.query_one(LabTrainPanel)
    return panel, panel.query_one(LossChart), panel.query_one("#run-progress-text", Static)


async def test_lab_train_runs_to_completion() -> None:
    app = create_app(start_lesson="lab-train", runner=FakeRunner(steps=8))
    async with app.run_test(size=SIZE) as pilot:
        panel, chart, progress = train_panes(app)
        await click(pilot, "#start")
        await wait_until(pilot, lambda: panel.run is not None and ended(panel))
        assert panel.run.status == "finished"
        assert chart.run.steps == list(range(1, 9)) and chart.run.eval_steps == [2, 4, 6, 8]
        assert chart.run.losses[0] > chart.run.losses[-1]
        await wait_until(pilot, lambda: "best epoch 2" in plain(chart.render()))  # the next redraw
        drawn = plain(chart.render())  # the fake's held-out loss turns up after epoch 2
        assert "train loss" in drawn and "eval loss" in drawn and "uniform guess ln(2,048) = 7.62" in drawn
        assert "step 8/8" in shown(progress) and "finished" in shown(progress) and "last step loss" in shown(progress)
        assert "eval loss 3.2566 · eval perplexity 26.0" in shown(panel.query_one("#run-progress-eval", Static))
        assert "1,500 tokens/s" in shown(progress)
        assert "CPU run — no GPU memory" in shown(panel.query_one("#gpu-gauge-text", Static))
        log = log_text(panel.query_one(RunLog))
        assert "trained 8 steps" in log and "adapter saved to" in log
        assert f"[tuned answer] {ANSWERS['tuned']}" in log.replace("\n", "")
        assert "finished" in shown(panel.query_one(".lab-status", Static))
        assert not panel.query_one("#start", Button).disabled
        assert panel.query_one("#cancel", Button).disabled


async def test_ctrl_r_starts_the_run_from_a_form_field() -> None:
    app = create_app(start_lesson="lab-train", runner=FakeRunner(steps=2))
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one(LabTrainPanel)
        panel.query_one(Input).focus()
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: panel.run is not None and panel.run.status == "finished")
        assert panel.run.kind == "train"


async def test_gpu_gauge_shows_allocated_reserved_and_total() -> None:
    gpu = {"allocated": 3.61 * 2**30, "reserved": 4 * 2**30, "max_allocated": 6.14 * 2**30, "total": 80 * 2**30}
    app = create_app(start_lesson="lab-train", runner=FakeRunner(steps=2, gpu=gpu))
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one(LabTrainPanel)
        await click(pilot, "#start")
        await wait_until(pilot, lambda: panel.run is not None and panel.run.status == "finished")
        text = shown(panel.query_one(GpuGauge).query_one("#gpu-gauge-text", Static))
        assert "allocated 3.61 GiB" in text and "reserved 4.00 GiB" in text
        assert "peak 6.14 GiB of 80.00 GiB" in text


async def test_setting_a_dataset_shows_one_row_coloured_before_training(tmp_path) -> None:
    from lessons.panels.lab_train import DataPreview
    from tutor.engine.sft_data import SHAPE_EXAMPLES
    from tutor.render.data_report import COUNTED, MASKED

    app = create_app(start_lesson="lab-train", runner=FakeRunner())
    async with app.run_test(size=SIZE) as pilot:
        result = app.screen.query_one(DataPreview).query_one("#result", Static)
        assert "Set the dataset" in shown(result)  # the bundled default: nothing read yet
        app.screen.query_one("#field-dataset", Input).value = str(SHAPE_EXAMPLES["messages"])
        # The first report in a process imports transformers and loads a tokenizer: slow under load.
        await wait_until(pilot, lambda: "ready to train" in shown(result), timeout=120, shows=lambda: shown(result)[:300])
        assert "only the assistant's turns count" in shown(result) and "tiny" in shown(result)
        texts = [part for part in result.content.renderables if isinstance(part, Text)]

        def styled(style: str) -> str:
            return "".join(t.plain[s.start:s.end] for t in texts for s in t.spans if str(s.style).startswith(style))

        counted, masked = styled(f"{COUNTED} on"), styled(f"{MASKED} on")  # the row's tokens, not the legend
        assert "The rank of the update B·A" in counted and "What does the r in LoRA stand for?" in masked
        bad = tmp_path / "mine.jsonl"
        bad.write_text('{"prompt": "Hi", "completion": ""}\n')
        app.screen.query_one("#field-dataset", Input).value = str(bad)
        await wait_until(pilot, lambda: "none of the 1 rows can be trained on" in shown(result), shows=lambda: shown(result))
        assert "1 row: empty or missing 'completion' (row 1)" in shown(result)
        assert app.screen.query_one(LabTrainPanel).run is None  # nothing started


async def test_bad_input_is_marked_inline_and_nothing_starts() -> None:
    runner = FakeRunner()
    app = create_app(start_lesson="lab-train", runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one(LabTrainPanel)
        assert panel.query_one("#field-learning_rate", Input).value == "0.0002"  # the notebook's
        await type_into(pilot, "#field-lora_dropout", "fast")
        await type_into(pilot, "#field-lora_r", "0")
        await pilot.pause()
        assert "expected a number" in shown(panel.query_one("#error-lora_dropout", Static))
        assert "must be at least 1" in shown(panel.query_one("#error-lora_r", Static))
        assert panel.query_one("#error-lora_dropout").display
        assert not panel.query_one("#error-lora_alpha").display
        await click(pilot, "#start")
        await pilot.pause()
        assert runner.started == []
        assert "Some fields need fixing" in shown(panel.query_one(".lab-status", Static))
        assert panel.query_one("#field-lora_dropout", Input).value == "fast"  # nothing lost
        await type_into(pilot, "#field-lora_dropout", "0.1")
        await type_into(pilot, "#field-lora_r", "8")
        await click(pilot, "#start")
        await wait_until(pilot, lambda: runner.started)
        config = runner.started[0][1]
        assert (config.lora_dropout, config.lora_r, config.learning_rate) == (0.1, 8, 2e-4)


async def test_an_error_from_the_job_shows_message_and_hint() -> None:
    error = {"error_type": "DatasetError", "message": "the dataset has no column 'prompt'",
             "hint": "Set text_column to one of: act, text"}
    app = create_app(start_lesson="lab-train", runner=FakeRunner(fail_with=error))
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one(LabTrainPanel)
        await click(pilot, "#start")
        await wait_until(pilot, lambda: panel.run is not None and ended(panel))
        assert panel.run.status == "failed"
        status = shown(panel.query_one(".lab-status", Static))
        assert "failed: the dataset has no column 'prompt'" in status
        assert "hint: Set text_column to one of: act, text" in status
        assert "hint: Set text_column" in log_text(panel.query_one(RunLog))
        assert not panel.query_one("#start", Button).disabled  # the learner can fix and retry


async def test_cancel_stops_at_the_next_step_and_saves_the_adapter() -> None:
    app = create_app(start_lesson="lab-train", runner=FakeRunner(steps=8, hold_after_step=3))
    async with app.run_test(size=SIZE) as pilot:
        panel, chart, _ = train_panes(app)
        await click(pilot, "#start")
        await wait_until(pilot, lambda: len(chart.run.steps) == 3)
        await click(pilot, "#cancel")
        # The press is a message of its own, handled after the click returns (later under load).
        await wait_until(pilot, lambda: "stopping after the current step" in shown(panel.query_one(".lab-status", Static)))
        assert panel.query_one("#cancel", Button).disabled
        FakeRunner.release_all()
        await wait_until(pilot, lambda: ended(panel))
        assert panel.run.status == "cancelled"
        assert chart.run.steps == [1, 2, 3]
        assert "cancelled after 3 steps" in log_text(panel.query_one(RunLog)).replace("\n", "")
        assert "the adapter holds what was trained" in shown(panel.query_one(".lab-status", Static))
        assert (panel.run.run_dir / "adapter" / "adapter_model.safetensors").exists()


async def test_leaving_the_lesson_keeps_the_run_and_coming_back_replays_it() -> None:
    app = create_app(start_lesson="lab-train", runner=FakeRunner(steps=8, hold_after_step=4))
    async with app.run_test(size=SIZE) as pilot:
        panel, chart, _ = train_panes(app)
        await click(pilot, "#start")
        await wait_until(pilot, lambda: len(chart.run.steps) == 4)
        run = panel.run
        app.open_lesson("why-qlora")
        await wait_until(pilot, lambda: not app.screen.query(LabTrainPanel))
        assert run.is_active
        FakeRunner.release_all()
        await wait_until(pilot, lambda: run.status == "finished")
        app.open_lesson("lab-train")
        await wait_until(pilot, lambda: app.screen.query(LabTrainPanel) and ended(app.screen.query_one(LabTrainPanel)))
        panel, chart, progress = train_panes(app)
        assert panel.run is run
        assert chart.run.steps == list(range(1, 9))
        assert "step 8/8" in shown(progress)


async def test_relaunching_the_app_reattaches_and_replays_the_loss_curve() -> None:
    first = create_app(start_lesson="lab-train", runner=FakeRunner(steps=8, hold_after_step=4))
    async with first.run_test(size=SIZE) as pilot:
        panel, chart, _ = train_panes(first)
        await click(pilot, "#start")
        await wait_until(pilot, lambda: len(chart.run.steps) == 4)
        run_dir = panel.run.run_dir
    # The UI is gone; the job (held at step 4) is not. A new app, same QLORA_TUTOR_HOME:
    second = create_app(start_lesson="lab-train", runner=FakeRunner())
    async with second.run_test(size=SIZE) as pilot:
        panel, chart, progress = train_panes(second)
        await wait_until(pilot, lambda: len(chart.run.steps) == 4 and "step 4/8" in shown(progress))
        assert panel.run.run_dir == run_dir and panel.run.is_active
        assert chart.run.steps == [1, 2, 3, 4]
        assert panel.query_one("#start", Button).disabled
        FakeRunner.release_all()
        await wait_until(pilot, lambda: ended(panel))
        assert panel.run.status == "finished"
        assert chart.run.steps == list(range(1, 9))
        assert "step 8/8" in shown(progress) and "finished" in shown(progress)


async def test_lab_baseline_shows_footprint_and_streams_the_answer() -> None:
    app = create_app(start_lesson="lab-baseline", runner=FakeRunner())
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one(LabBaselinePanel)
        tiny_label = dict((v, str(k)) for k, v in panel.query_one("#field-model", Select)._options)["tiny"]
        assert "teaching model" in tiny_label
        await type_into(pilot, "#field-prompt", "Say hi")
        await click(pilot, "#start")
        await wait_until(pilot, lambda: panel.run is not None and ended(panel))
        assert panel.run.status == "finished"
        card = shown(panel.query_one(ModelFootprint))
        assert "teaching model" in card
        assert "4-bit" in card and "976.56 KiB" in card and "16-bit" in card and "2.38 MiB" in card
        assert "✓ loading" in card and "▶ done" in card
        assert panel.query_one(StreamView).text == ANSWERS["base"] + " "
        kind, config = app.jobs.runner.started[0]
        assert (kind, config.model, config.prompt) == ("generate", "tiny", "Say hi")


def finished_fake_train():
    """A fake train run that saved an adapter, for lab-compare to pick."""
    trained = FakeRunner(steps=2).start("train", None)
    assert trained.wait(timeout=30) == "finished"
    return trained


async def test_lab_compare_lists_adapter_files_and_shows_the_answer_pairs() -> None:
    trained = finished_fake_train()
    runner = FakeRunner()
    app = create_app(start_lesson="lab-compare", runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one(LabComparePanel)
        await wait_until(pilot, lambda: "adapter_model.safetensors" in shown(panel.query_one("#adapter-files", Static)))
        assert "4.00 KiB" in shown(panel.query_one("#adapter-files", Static))
        await click(pilot, "#start")
        await wait_until(pilot, lambda: panel.run is not None and ended(panel))
        assert panel.run.status == "finished"
        pairs = panel.query_one(AnswerPairs)
        assert pairs.answers[(0, "base")] == ANSWERS["base"] + " " and pairs.answers[(1, "tuned")] == ANSWERS["tuned"]
        assert pairs.prompts == [PROMPT, HELD_OUT_PROMPT]
        drawn = plain(panel.query_one(".answer-pairs-body", Static).content)
        assert "held-out prompt 1: I want you to act as a gardener." in drawn
        assert "fine-tuned 1/1" in shown(panel.query_one(".answer-pairs-shape", Static))
        assert "decoding: greedy, repetition penalty 1.5" in shown(panel.query_one(".answer-pairs-decoding", Static))
        kind, config = runner.started[0]
        assert kind == "compare" and config.adapter == str(trained.run_dir / "adapter")
        # the decoding settings are the learner's to change
        panel.query_one("#field-sampling", Switch).value = True
        await type_into(pilot, "#field-temperature", "1.2")
        await type_into(pilot, "#field-seed", "7")
        await type_into(pilot, "#field-repetition_penalty", "1.0")
        await click(pilot, "#start")
        await wait_until(pilot, lambda: len(runner.started) == 2)
        config = runner.started[-1][1]
        assert (config.sampling, config.temperature, config.seed, config.repetition_penalty) == (True, 1.2, 7, 1.0)


def test_word_diff_highlights_only_the_changed_words() -> None:
    before, after = word_diff("I am a coach and I coach", "I want you to act as a coach")
    changed = lambda text: [text.plain[s.start:s.end].strip() for s in text.spans if s.style]  # noqa: E731
    assert changed(before) == ["am", "and I coach"]
    assert changed(after) == ["want you to act as"]
    assert after.plain == "I want you to act as a coach "
    shaped = underline_runs(Text("Fine. My first request is: help."), ["my first request is"])
    assert [shaped.plain[s.start:s.end] for s in shaped.spans if s.style == "underline"] == ["My first request is"]


async def test_answer_pairs_say_when_the_prompts_are_asked_as_chat_turns() -> None:
    from textual.app import App

    from tutor.engine.generate import ASKED_AS_CHAT

    class Host(App):
        def compose(self):
            yield AnswerPairs()

    prompts = {"type": "prompts", "prompts": [PROMPT], "held_out": 0, "decoding": "greedy"}
    app = Host()
    async with app.run_test(size=SIZE) as pilot:
        pairs = app.query_one(AnswerPairs)
        pairs.apply([prompts])
        await pilot.pause()
        assert "decoding: greedy" in shown(pairs.query_one(".answer-pairs-decoding", Static))
        assert "chat turn" not in shown(pairs.query_one(".answer-pairs-decoding", Static))
        pairs.apply([{**prompts, "asked_as": ASKED_AS_CHAT}])
        await pilot.pause()
        assert " ".join(shown(pairs.query_one(".answer-pairs-decoding", Static)).split()).endswith(ASKED_AS_CHAT)


async def test_lab_compare_without_adapters_says_to_train_first() -> None:
    runner = FakeRunner()
    app = create_app(start_lesson="lab-compare", runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        await click(pilot, "#start")
        await pilot.pause()
        assert "Train one in lab-train first" in shown(app.screen.query_one(".lab-status", Static))
        assert runner.started == []


def test_reports_print_defaults_presets_and_adapters() -> None:
    train = plain(recipe_report())
    assert "learning_rate" in train and "0.0002" in train and "lora_r" in train
    baseline = plain(presets_table())
    assert "tiny" in baseline and "TEACHING MODEL" in baseline and "bigscience/bloom-7b1" in baseline
    assert "No trained adapter yet" in plain(trained_adapters_report())


def test_the_ui_never_imports_torch() -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys
        sys.path.insert(0, "tests")
        from conftest import wait_until
        from fakes import FakeRunner
        from tutor.ui.app import create_app

        async def main():
            app = create_app(start_lesson="lab-train", runner=FakeRunner(steps=2))
            async with app.run_test(size=(130, 60)) as pilot:
                for slug in ("lab-baseline", "lab-compare", "lab-train"):
                    app.open_lesson(slug)
                    await wait_until(pilot, lambda: app.screen.query("#start"))
                app.screen.query_one("#start").press()
                await wait_until(pilot, lambda: app.jobs.runs() and app.jobs.runs()[0].status != "running")

        asyncio.run(main())
        heavy = sorted(m for m in ("torch", "transformers", "peft", "trl", "bitsandbytes") if m in sys.modules)
        print("HEAVY", heavy)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, cwd=Path(__file__).parent.parent)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


@pytest.mark.slow
async def test_lab_train_on_the_real_tiny_model() -> None:
    """The real child process: tiny model, a few steps, on CPU (about a minute)."""
    app = create_app(start_lesson="lab-train")
    async with app.run_test(size=SIZE) as pilot:
        panel, chart, progress = train_panes(app)
        panel.query_one("#field-epochs", Input).value = "1"
        await click(pilot, "#start")
        await wait_until(pilot, lambda: panel.run is not None and ended(panel), timeout=300)
        log = log_text(panel.query_one(RunLog))
        assert panel.run.status == "finished", log
        assert chart.run.steps and chart.run.steps[-1] == int(shown(progress).split("step ")[1].split("/")[0])
        assert "teaching" in log or "tiny" in log
        assert (panel.run.run_dir / "adapter" / "adapter_model.safetensors").exists()


def test_chart_axes_are_fixed_for_the_whole_run() -> None:
    from tutor.ui.widgets.loss_chart import Curves, nice_ticks, y_top

    chart = LossChart()
    chart.apply([{"type": "model", "vocab_size": 2048}])
    chart.apply([{"type": "progress", "step": 1, "total_steps": 55, "loss": 7.9}])
    first = chart.axes()
    assert first == (55, 8.5)  # ln(2048) = 7.62, x 1.1 = 8.38, up to the next half
    for step in range(2, 56):
        chart.apply([{"type": "progress", "step": step, "total_steps": 55, "loss": 7.9 - step / 20}])
        assert chart.axes() == first
    chart.apply([{"type": "progress", "step": 56, "total_steps": 55, "loss": 9.8}])
    assert chart.axes() == (55, 10.0)  # a loss above the frame grows it, never shrinks it
    assert y_top([Curves(vocab_size=250880)]) == 14.0  # bloom's vocabulary: ln = 12.43
    assert nice_ticks(55, whole=True) == [0, 10, 20, 30, 40, 50]
    assert nice_ticks(3, whole=True) == [0, 1, 2, 3]
    assert nice_ticks(8.5, most=4) == [0, 5]


async def test_chart_draws_a_finished_run_next_to_this_one() -> None:
    runner = FakeRunner(steps=4)
    app = create_app(start_lesson="lab-train", runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        panel, chart, _ = train_panes(app)
        panel.query_one("#start", Button).press()
        await wait_until(pilot, lambda: panel.run is not None and ended(panel))
        first = panel.run
        panel.query_one("#start", Button).press()
        await wait_until(pilot, lambda: panel.run is not first and ended(panel))
        choice = panel.query_one("#compare-run", Select)
        await wait_until(pilot, lambda: len(choice._options) > 1)
        choice.value = str(first.run_dir)
        await wait_until(pilot, lambda: chart.reference is not None)
        assert chart.reference.steps == [1, 2, 3, 4] and chart.reference.name == f"{first.run_dir.name} (notebook)"
        await wait_until(pilot, lambda: f"{first.run_dir.name} (notebook): train loss" in plain(chart.render()))


def test_a_run_from_before_the_rename_shows_and_reloads_by_the_new_names(tmp_path) -> None:
    """Runs saved when recipe and speed were both called `seed` still compare and reload."""
    from types import SimpleNamespace

    from lessons.panels.lab_compare import train_config
    from lessons.panels.lab_train import recipe_of
    from tutor.engine.jobs import CONFIG_FILE

    assert recipe_of(SimpleNamespace(events=[{"type": "summary", "recipe": "seed"}])) == "notebook"
    assert recipe_of(SimpleNamespace(events=[])) == "recipe unknown"
    (tmp_path / CONFIG_FILE).write_text('[recipe]\nrecipe = "seed"\n[training]\nspeed = "seed"\n[lora]\nlora_r = 8\n')
    config = train_config(tmp_path).check()
    assert (config.recipe, config.speed, config.lora_r) == ("notebook", "padded", 8)


async def test_choosing_a_recipe_fills_the_form_and_reaches_the_run() -> None:
    runner = FakeRunner(steps=2)
    app = create_app(start_lesson="lab-train", runner=runner)
    async with app.run_test(size=SIZE) as pilot:
        panel = app.screen.query_one(LabTrainPanel)
        panel.query_one("#field-recipe", Select).value = "paper"
        await wait_until(pilot, lambda: panel.query_one("#field-lora_r", Input).value == "64")
        assert panel.query_one("#field-max_grad_norm", Input).value == "0.3"
        assert panel.query_one("#field-lr_scheduler", Select).value == "constant"
        await click(pilot, "#start")
        await wait_until(pilot, lambda: runner.started)
        kind, config = runner.started[-1]
        assert (config.recipe, config.lora_r, config.lora_dropout, config.target_modules) == ("paper", 64, 0.1, "all-linear")
        panel.query_one("#field-recipe", Select).value = "notebook"
        await wait_until(pilot, lambda: panel.query_one("#field-lora_r", Input).value == "16")
