"""Bad settings, files and ranks: one line saying what is wrong, before anything loads."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.engine.config import RunConfig
from tutor.engine.data import DatasetError, load_training_data

REPO = Path(__file__).resolve().parents[2]


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("option, value, expected", [
    ("--epochs", "inf", "--epochs: must be a finite number, got inf"),
    ("--lora-alpha", "inf", "--lora-alpha: must be a finite number, got inf"),
    ("--learning-rate", "nan", "--learning-rate: must be a finite number, got nan"),
    ("--repetition-penalty", "inf", "--repetition-penalty: must be a finite number"),
    ("--lora-r", "1000000000", "--lora-r: must be at most 65536"),
    ("--epochs", "1e9", "--epochs: must be greater than 0 and at most 1000"),
    ("--batch-size", "1000000000", "--batch-size: must be auto or a whole number from 1 to 65536"),
    ("--max-length", "100000000", "--max-length: must be between 8 and 131072"),
    ("--seed", "-1", "--seed: must be between 0 and 2**32 - 1"),
])
def test_out_of_range_settings_are_refused_before_anything_starts(capsys, tutor_home, option, value, expected):
    assert main(["train", option, value]) == 2
    lines = one_line_error(capsys).splitlines()
    assert lines[0] == "qlora-tutor: invalid settings:" and len(lines) == 2 and expected in lines[1]
    assert not (tutor_home / "runs").exists()  # no run folder for a run that never started


@pytest.mark.parametrize("option, value, expected", [
    ("--batch-size", "abc", "argument --batch-size: expected auto or a whole number, got 'abc'"),
    ("--lora-r", "1.5", "argument --lora-r: expected a whole number, got '1.5'"),
    ("--lr", "fast", "argument --learning-rate/--lr: expected a number, got 'fast'"),
])
def test_values_that_are_not_numbers_get_one_line(capsys, option, value, expected):
    with pytest.raises(SystemExit) as exit_:
        main(["train", option, value])
    assert exit_.value.code == 2
    err = one_line_error(capsys)
    assert err == f"qlora-tutor train: {expected} (see qlora-tutor train --help)\n"


def test_a_config_that_is_binary_or_a_folder(capsys, tmp_path):
    binary = tmp_path / "run.toml"
    binary.write_bytes(bytes(range(256)))
    assert main(["train", "--config", str(binary)]) == 2
    assert one_line_error(capsys).startswith(f"qlora-tutor: config {binary} is not a text file (not UTF-8)")
    assert main(["train", "--config", str(tmp_path)]) == 2
    assert f"cannot read config {tmp_path}: Is a directory" in one_line_error(capsys)


@pytest.mark.parametrize("toml, field", [
    ("[training]\nepochs = inf\n", "epochs"),
    ("[model]\ntarget_modules = [1, 2]\n", "target_modules"),
    ("[model]\ntarget_modules = \" , \"\n", "target_modules"),
])
def test_a_config_with_unrunnable_values_is_refused(toml, field):
    assert {e.field for e in RunConfig.from_toml(toml).validate()} == {field}


def test_an_empty_dataset_file_and_a_folder_say_so(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DatasetError, match=f"dataset file {empty} is empty"):
        load_training_data(RunConfig(dataset=str(empty)))
    with pytest.raises(DatasetError, match=f"dataset {tmp_path} is a folder, not a file"):
        load_training_data(RunConfig(dataset=str(tmp_path)))


def test_a_malformed_dataset_names_the_reason(tmp_path):
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "unterminated\n')
    with pytest.raises(DatasetError) as info:
        load_training_data(RunConfig(dataset=str(broken)))
    assert not str(info.value).endswith(": ")


def test_inspect_bounds_the_rank_by_the_model_and_counts_on_meta_fast(capsys):
    from tutor.engine.anatomy import LoraSettings, wrap_with_lora
    from tutor.engine.presets import meta_model, preset_config

    assert main(["inspect", "--model", "llama-3.1-8b", "--rank", "100000"]) == 2
    err = one_line_error(capsys)
    assert err.count("\n") == 1 and "LoRA rank 100000" in err and "at most 4096" in err

    model = meta_model(preset_config("llama-3.1-8b"))
    started = time.process_time()  # CPU seconds: other processes on the machine do not count
    wrapped = wrap_with_lora(model, LoraSettings(rank=4096))
    assert time.process_time() - started < 2
    adapters = [p for name, p in wrapped.named_parameters() if "lora_" in name]
    assert adapters and all(p.device.type == "meta" for p in adapters)  # nothing allocated


def test_bitsandbytes_kernels_warning_is_not_shown():
    result = subprocess.run([sys.executable, "-c", "import tutor.engine, bitsandbytes"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "kernels" not in result.stderr


def test_the_data_command_on_an_empty_file_and_a_folder(tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert main(["data", str(empty)]) == 2
    assert f"dataset file {empty} is empty" in one_line_error(capsys)
    assert main(["data", str(tmp_path)]) == 2
    assert f"dataset {tmp_path} is a folder, not a file" in one_line_error(capsys)
