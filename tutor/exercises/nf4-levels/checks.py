"""Checks for exercise 3 (nf4-levels): the shape of the construction, then bitsandbytes' table."""

from bitsandbytes.functional import get_4bit_type

from tutor.engine.checking import expect, expect_equal, show


def _levels(learner):
    levels = [float(v) for v in learner.nf4_levels()]
    expect_equal("number of levels", len(levels), 16, {
        "you kept the 0 of both halves: they merge into one exact 0": 17,
        "one level is missing: 7 negative, an exact 0 and 8 positive make 16": 15,
    })
    return levels


def check_sixteen_ascending(learner):
    """16 levels, ascending, from -1 to 1"""
    levels = _levels(learner)
    expect(levels == sorted(levels), f"levels are not ascending: {show(levels)}")
    expect(max(map(abs, levels)) <= 1 + 1e-6, f"largest magnitude is {max(map(abs, levels)):.4g}: "
           "divide every quantile by the largest one so the levels span [-1, 1]")
    expect_equal("smallest and largest level", [levels[0], levels[-1]], [-1.0, 1.0], tolerance=1e-6)


def check_asymmetric_halves(learner):
    """7 negative levels, one exact 0, 8 positive levels"""
    levels = _levels(learner)
    counts = [sum(v < 0 for v in levels), levels.count(0.0), sum(v > 0 for v in levels)]
    expect_equal("(negative, zero, positive) levels", counts, [7, 1, 8], {
        "symmetric halves without a 0: NF4 gives the negative side 7 levels and the positive 8 so that 0 is exact": [8, 0, 8],
        "your halves are mirrored: 7 negative and 8 positive, not the other way round": [8, 1, 7],
    })


def check_matches_bitsandbytes(learner):
    """each level equals bitsandbytes' NF4 table within 1e-4"""
    levels = _levels(learner)
    theirs = sorted(get_4bit_type("nf4", device="cpu").tolist())
    for index, (ours, reference) in enumerate(zip(levels, theirs)):
        if abs(ours - reference) > 1e-4:
            evenly = abs(levels[1] - levels[0] - (levels[2] - levels[1])) < 1e-6
            expect(False, f"level {index}: expected {reference:.6g} (bitsandbytes), got {ours:.6g}"
                   + (" - your levels are evenly spaced: NF4 takes them from normal quantiles" if evenly else ""))
