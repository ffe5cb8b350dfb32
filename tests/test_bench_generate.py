"""bench/generate_speed.py: where two answers part, the figures, and the whole script on CPU."""

import json

import pytest

from bench.generate_speed import _token_rows, first_difference, summarize


def test_first_difference_is_the_first_position_that_differs():
    assert first_difference([5, 6, 7], [5, 6, 7]) is None
    assert first_difference([5, 6, 7], [5, 9, 7]) == 1
    assert first_difference([5, 6, 7], [5, 6]) == 2  # stopped early
    assert first_difference([5, 6], [5, 6, 7]) == 2  # went on


def test_summary_gives_median_and_best_in_seconds_and_tokens_per_second():
    summary = summarize([2.0, 1.0, 4.0], tokens=50)
    assert (summary["median_s"], summary["best_s"]) == (2.0, 1.0)
    assert (summary["tokens_per_s_median"], summary["tokens_per_s_best"]) == (25.0, 50.0)


def test_rows_are_cut_at_their_padding():
    class Ids(list):
        def tolist(self):
            return [list(row) for row in self]

    assert _token_rows(Ids([[4, 2, 0, 0], [4, 5, 6, 7]]), pad_token_id=0) == [[4, 2], [4, 5, 6, 7]]


def test_the_cpu_run_checks_the_products_paths_against_generate(tmp_path):
    """The smoke run the GPU command scales up: every product path gives generate's tokens,
    with and without the adapter, and the adapter changes the answer (else that proves nothing)."""
    pytest.importorskip("torch")
    from bench.generate_speed import main

    out = tmp_path / "speed.json"
    variants = "generate,lab,static-eager,adapter-generate,adapter-lab,adapter-static-eager"
    report = main(["--model", "tiny", "--device", "cpu", "--tokens", "4", "--repeats", "1", "--variants", variants,
                   "--out", str(out), "--workdir", str(tmp_path)])
    assert json.loads(out.read_text()) == report and report["device"] == "cpu"
    measured = report["variants"]
    assert sorted(measured) == sorted(variants.split(","))
    assert all(result["identical"] and result["new_tokens"] == 4 for result in measured.values())
    assert not any("fallback_notes" in result for result in measured.values())
    assert report["adapter_changes_answer"] and report["lab_first_call_identical"]
