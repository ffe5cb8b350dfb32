"""The bundled prompts, dataset loading errors, and the tiny teaching model."""

from __future__ import annotations

import json
import re

import pytest

from tutor.engine.config import RunConfig
from tutor.engine.data import BUNDLED_FILE, DatasetError, load_training_data


def test_bundled_prompts_are_enough_and_in_the_notebooks_style():
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


def test_tiny_ships_with_the_package_in_the_presets_shape():
    from tutor.engine.tiny import BUILD_INFO, TINY_CONFIG, ensure_tiny

    folder = ensure_tiny()
    config = json.loads((folder / "config.json").read_text())
    assert {key: config[key] for key in TINY_CONFIG} == TINY_CONFIG
    info = json.loads((folder / BUILD_INFO).read_text())
    assert info["teaching"] and info["final_loss"] < info["first_loss"] / 3
    assert sum(f.stat().st_size for f in folder.iterdir()) < 20 * 2**20


def test_a_missing_tiny_model_says_how_to_rebuild_it(tmp_path, monkeypatch):
    from tutor.engine import tiny
    from tutor.engine.config import LabError

    monkeypatch.setattr(tiny, "SHIPPED_DIR", tmp_path / "gone")
    with pytest.raises(LabError) as info:
        tiny.ensure_tiny()
    assert "scripts/build_tiny.py" in info.value.hint


@pytest.mark.slow
def test_tiny_writes_english_words_but_not_the_prompts_frame():
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from scripts.build_tiny import corpus
    from tutor.engine.tiny import ensure_tiny

    folder = ensure_tiny()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    inputs = tokenizer("I want you to act as a motivation coach.", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=50, repetition_penalty=1.5, do_sample=False)
    answer = tokenizer.decode(out[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    words = re.findall(r"[A-Za-z]+", answer)
    vocabulary = set(re.findall(r"[a-z]+", " ".join(corpus()).lower()))
    assert len(words) >= 25
    assert sum(w.lower() in vocabulary for w in words) / len(words) > 0.9  # English words, not noise
    assert "act as" not in answer  # the dataset's shape is what training adds


def test_the_attention_input_gain_keeps_what_the_model_computes():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from scripts.build_tiny import scale_attention_inputs
    from tutor.engine.tiny import TINY_CONFIG

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(**{k: v for k, v in TINY_CONFIG.items() if k != "model_type"})).eval()
    tokens = torch.randint(0, TINY_CONFIG["vocab_size"], (1, 12))
    with torch.no_grad():
        before = model(tokens).logits
        scale_attention_inputs(model, 30.0)
        after = model(tokens).logits
    assert torch.allclose(before, after, atol=1e-4)
    assert torch.allclose(model.model.layers[0].input_layernorm.weight, torch.full((TINY_CONFIG["hidden_size"],), 30.0))


def test_the_pretraining_corpus_never_contains_a_phrase_the_prompts_share():
    from scripts.build_tiny import corpus
    from tutor.engine.shape import runs, shared_runs

    prompts = [json.loads(line)["prompt"] for line in BUNDLED_FILE.read_text().splitlines()]
    shared = shared_runs(prompts)
    assert "my first request is" in shared
    assert not {run for document in corpus() for run in runs(document)} & shared
