"""The CPU-side logic of bench/generate_speed.py: where two answers part, and the figures."""

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
