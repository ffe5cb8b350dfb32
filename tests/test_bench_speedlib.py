import pytest

from bench.speedlib import best_of, markdown_table, median_tokens_per_s, ratios, spread_samples


def test_spread_samples_hits_drawn_lengths_within_bounds():
    prompts = [[1, 2, 3], [4, 5, 6, 7, 8], [9]]
    samples = spread_samples(prompts, count=200, low=20, high=400, seed=3)
    lengths = [len(s) for s in samples]
    assert min(lengths) >= 20 and max(lengths) <= 400
    assert max(lengths) - min(lengths) > 300  # a real spread, not one length
    assert spread_samples(prompts, 200, 20, 400, seed=3) == samples  # same data for every config


def test_spread_samples_refuses_empty_input():
    with pytest.raises(ValueError):
        spread_samples([], 10, 20, 40)


def _result(config, tps, peak):
    return {"config": config, "tokens_per_s": tps, "mean_step_s": 0.5, "epoch_s": 10.0,
            "peak_allocated_bytes": peak, "peak_reserved_bytes": peak, "loss_first": 10.4,
            "loss_last": 7.0, "mfu": 0.2}


def test_ratios_use_the_best_repeat_of_each_config():
    results = [_result("notebook", 700, 4e9), _result("notebook", 990, 4e9), _result("stock-best", 3400, 4.2e9),
               _result("tutor", 5100, 4.1e9)]
    assert best_of(results, "notebook")["tokens_per_s"] == 990
    r = ratios(results, "tutor", ["notebook", "stock-best"])
    assert r["stock-best"]["speed"] == pytest.approx(1.5)
    assert r["notebook"]["peak_memory"] == pytest.approx(1.025)


def test_median_speed_pools_the_steps_of_every_repeat_after_warmup():
    def timed(config, seconds):
        return {**_result(config, 1000, 4e9), "step_seconds": seconds, "step_tokens": [2000] * len(seconds)}

    results = [timed("stock-best", [9.0, 0.5, 0.5, 0.9]), timed("stock-best", [9.0, 0.4, 0.6, 0.5]),
               timed("tutor", [9.0, 0.25, 0.25, 0.3])]
    assert median_tokens_per_s(results, "stock-best", warmup=1) == pytest.approx(2000 / 0.5)
    assert median_tokens_per_s(results, "notebook", warmup=1) is None
    r = ratios(results, "tutor", ["stock-best"], warmup=1)
    assert r["stock-best"]["speed_median"] == pytest.approx(2.0)


def test_markdown_table_formats_each_row():
    table = markdown_table([_result("tutor", 5123.4, 2**30 * 4.5)])
    assert "| tutor | 5,123 | 0.500 | 10.0 | 4.50 |" in table


def test_tutor_config_names_add_ablation_steps_in_order():
    from bench.ablations import flatten_rows, paged_optimizer, steps_for

    assert steps_for("tutor", 4, 512) == []
    assert steps_for("tutor+varlen+paged", 4, 512) == [flatten_rows, paged_optimizer]
    compiled = steps_for("tutor+cgraph", 4, 512)
    assert compiled[0] is flatten_rows and compiled[1].keywords == {"mode": "cudagraphs", "batch": 4, "max_length": 512}
    assert steps_for("stock-best", 4, 512) is None
    with pytest.raises(KeyError):
        steps_for("tutor+warp", 4, 512)


def test_static_offsets_make_padding_one_document_and_fill_empty_ones():
    pytest.importorskip("trl")
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    from bench.collators import StaticOffsetsCollator

    inner = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True, pad_to_multiple_of=16)
    batch = StaticOffsetsCollator(inner, max_docs=8, max_length=512)([
        {"input_ids": [1, 2, 3, 4, 5], "seq_lengths": [3, 2]},
        {"input_ids": [6, 7, 8], "seq_lengths": [3]},
    ])
    assert batch["input_ids"].shape == (1, 16)
    assert batch["cu_seq_lens_q"].tolist() == [0, 3, 5, 8, 16, 16, 16, 16, 16]
    assert batch["max_length_q"] == 512 and "seq_idx" not in batch


def test_full_rows_pad_every_row_to_one_width_as_a_document_of_its_own():
    pytest.importorskip("torch")
    from bench.collators import FullRowsCollator
    from tutor.engine.training.packing import IGNORE_INDEX, PackedRowsCollator

    batch = FullRowsCollator(PackedRowsCollator(pad_token_id=0), width=7)([
        {"input_ids": [5, 6, 7, 8, 9], "seq_lengths": [3, 2]},
        {"input_ids": [4, 3, 2], "seq_lengths": [3]},
    ])
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9, 0, 0], [4, 3, 2, 0, 0, 0, 0]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1, 0, 1], [0, 1, 2, 0, 1, 0, 1]]
    assert batch["labels"][:, 5:].eq(IGNORE_INDEX).all()


def test_gc_clock_counts_collections_inside_steps_only():
    import gc

    from bench.profiling import GCClock

    clock = GCClock()
    gc.collect()  # before a step: not counted
    clock.active = True
    gc.collect()
    clock.active = False
    report = clock.stop(steps=1)
    assert report["collections"] == [0, 0, 1]
    assert report["ms_per_step"][2] > 0
    assert clock._on_gc not in gc.callbacks

