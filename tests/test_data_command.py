"""`qlora-tutor data` headless: the report in a pipe marks masked tokens without colour."""

from __future__ import annotations

import json

from tutor.cli import main
from tutor.engine.sft_data import SHAPE_EXAMPLES


def test_prompt_completion_report_marks_the_prompt_as_masked(capsys):
    assert main(["data", str(SHAPE_EXAMPLES["prompt-completion"])]) == 0
    out = capsys.readouterr().out
    assert "only the completion counts" in out and "ready to train" in out
    assert "[[Question: What does the r in LoRA stand for?↵\nAnswer:]] The rank of the update B·A" in out


def test_bad_rows_exit_1_with_the_problems_listed(tmp_path, capsys):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"text": "fine"}) + "\n" + json.dumps({"text": ""}) + "\n")
    assert main(["data", str(path)]) == 1
    out = capsys.readouterr().out
    assert "! 1 row: empty or missing 'text' (row 2)" in out and "fix the rows listed above" in out


def test_unusable_input_is_one_line_on_stderr(tmp_path, capsys):
    assert main(["data", str(tmp_path / "missing.parquet")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not exist" in err


def test_a_shipped_file_is_shown_by_its_place_in_the_package_the_same_on_every_machine(tmp_path):
    from tutor.engine.sft_data import SHAPE_EXAMPLES
    from tutor.render.data_report import shown_source

    assert shown_source(str(SHAPE_EXAMPLES["messages"].resolve())) == "tutor/data/shapes/messages.jsonl"
    own = str(tmp_path / "mine.jsonl")
    assert shown_source(own) == own and shown_source("bundled") == "bundled"
