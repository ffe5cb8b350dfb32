"""The bundled prompts, dataset loading errors, and the tiny teaching model."""

from __future__ import annotations

import json
import re

import pytest

from tutor.engine.config import RunConfig
from tutor.engine.data import BUNDLED_FILE, DatasetError, load_training_data


def test_bundled_prompts_are_enough_and_in_the_seed_style():
    rows = [json.loads(line) for line in BUNDLED_FILE.read_text().splitlines()]
    assert len(rows) >= 60
    assert all(set(row) == {"act", "prompt"} for row in rows)
    assert all(row["prompt"].startswith("I want you to act as") for row in rows)
    assert len({row["prompt"] for row in rows}) == len(rows)


def test_bundled_dataset_keeps_first_n_rows_as_text():
    data = load_training_data(RunConfig())
    assert data.column_names == ["text"] and len(data) == 50
    assert data[0]["text"].startswith("I want you to act as a motivation coach.")


def test_local_files(tmp_path):
    txt = tmp_path / "lines.txt"
    txt.write_text("first line\nsecond line\n")
    assert load_training_data(RunConfig(dataset=str(txt)))["text"] == ["first line", "second line"]
    csv = tmp_path / "rows.csv"
    csv.write_text("title,body\na,hello there\n")
    assert load_training_data(RunConfig(dataset=str(csv), text_column="body"))["text"] == ["hello there"]


def test_missing_column_lists_the_columns(tmp_path):
    csv = tmp_path / "rows.csv"
    csv.write_text("title,body\na,hello there\n")
    with pytest.raises(DatasetError) as info:
        load_training_data(RunConfig(dataset=str(csv)))
    assert "'prompt'" in str(info.value) and "title, body" in info.value.hint


@pytest.mark.parametrize("name, content", [("empty.jsonl", ""), ("absent.jsonl", None)])
def test_empty_or_missing_file(tmp_path, name, content):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(DatasetError):
        load_training_data(RunConfig(dataset=str(path)))


def test_hub_dataset_without_access_suggests_bundled():
    with pytest.raises(DatasetError) as info:
        load_training_data(RunConfig(dataset="fka/awesome-chatgpt-prompts"))
    assert "bundled" in info.value.hint


@pytest.mark.slow
def test_tiny_model_is_cached_and_writes_english():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tutor.engine.tiny import BUILD_INFO, corpus_text, ensure_tiny

    folder = ensure_tiny()
    assert ensure_tiny() == folder  # second call: the cache
    info = json.loads((folder / BUILD_INFO).read_text())
    assert info["teaching"] and info["final_loss"] < info["first_loss"] / 3
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert model.num_parameters() < 2_000_000
    inputs = tokenizer("I want you to act as a motivation coach.", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=50, repetition_penalty=1.5, do_sample=False)
    answer = tokenizer.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    words = re.findall(r"[A-Za-z]+", answer)
    vocabulary = set(re.findall(r"[A-Za-z]+", corpus_text().lower()))
    assert len(words) >= 25
    assert sum(w.lower() in vocabulary for w in words) / len(words) > 0.9  # English words, not noise
    assert "act as" not in answer  # the dataset's shape is what training adds


def test_a_killed_build_leaves_no_staging_folder_behind(tmp_path, monkeypatch):
    from tutor.engine import tiny

    monkeypatch.setenv("QLORA_TUTOR_MODELS", str(tmp_path))
    leftover = tmp_path / f".{tiny.TINY_DIR_NAME}-killed"
    leftover.mkdir()
    monkeypatch.setattr(tiny, "build_tiny", lambda folder: (folder / tiny.BUILD_INFO).write_text("{}"))
    target = tiny.ensure_tiny(log=lambda message: None)
    assert (target / tiny.BUILD_INFO).exists()
    assert not leftover.exists()
