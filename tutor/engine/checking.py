"""What an exercise's checks use to compare the learner's answer with the real libraries.

A check is a function `check_<what>(learner)` in `tutor/exercises/<slug>/checks.py`; its
docstring names it. It fails by raising `Mismatch` with one line: what was compared, the
expected and the actual value, and, when the actual value is what a known mistake gives,
which mistake that is. `mistakes` maps such an explanation to the value the mistake gives.
These helpers run only inside the checker process (`tutor.engine.exercise_runner`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


class Mismatch(AssertionError):
    """A check's verdict: one line saying what differs and how."""


def expect_equal(what: str, actual: Any, expected: Any, mistakes: Mapping[str, Any] | None = None,
                 tolerance: float = 0.0) -> None:
    """`actual` must equal `expected` (numbers within `tolerance`, tensors element-wise)."""
    if same(actual, expected, tolerance):
        return
    raise Mismatch(f"{what}: expected {show(expected)}, got {show(actual)}"
                   + diagnosis(actual, mistakes, tolerance))


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Mismatch(message)


def diagnosis(actual: Any, mistakes: Mapping[str, Any] | None, tolerance: float = 0.0) -> str:
    """' - <explanation>' for the first known mistake that gives `actual`, else ''."""
    for explanation, wrong in (mistakes or {}).items():
        if same(actual, wrong, tolerance):
            return f" - {explanation}"
    return ""


def same(actual: Any, expected: Any, tolerance: float = 0.0) -> bool:
    import torch

    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, torch.Tensor) or actual.shape != expected.shape:
            return False
        difference = (actual.detach().double() - expected.detach().double()).abs()
        return bool((difference <= tolerance).all())
    if isinstance(expected, (list, tuple)):
        return (isinstance(actual, (list, tuple)) and len(actual) == len(expected)
                and all(same(a, e, tolerance) for a, e in zip(actual, expected)))
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return is_number(actual) and math.isclose(float(actual), expected, rel_tol=0, abs_tol=tolerance)
    return actual == expected


def is_number(value: Any) -> bool:
    import torch

    if isinstance(value, torch.Tensor):
        return value.numel() == 1
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def show(value: Any) -> str:
    """A short rendering: numbers to 6 significant digits, tensors by shape, dtype and a few values."""
    import torch

    if isinstance(value, torch.Tensor):
        head = ", ".join(show(v) for v in value.detach().flatten()[:4].tolist())
        more = ", ..." if value.numel() > 4 else ""
        return f"tensor of shape {tuple(value.shape)} ({str(value.dtype).removeprefix('torch.')}) [{head}{more}]"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return "[" + ", ".join(show(v) for v in value[:6]) + f", ... ({len(value)} items)]"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return repr(value)


def first_difference(what: str, actual, expected, tolerance: float = 0.0,
                     mistakes: Mapping[str, Any] | None = None) -> None:
    """Compare two tensors element-wise; a mismatch names the first element that differs."""
    import torch

    expect(isinstance(actual, torch.Tensor), f"{what}: expected a tensor, got {type(actual).__name__}")
    expect(actual.shape == expected.shape, f"{what}: expected shape {tuple(expected.shape)}, "
           f"got {tuple(actual.shape)}" + diagnosis(actual, mistakes, tolerance))
    difference = (actual.detach().double() - expected.detach().double()).abs()
    bad = (difference > tolerance).nonzero()
    if len(bad):
        index = tuple(bad[0].tolist())
        raise Mismatch(f"{what}: {len(bad)} of {actual.numel()} values differ; at {list(index)} "
                       f"expected {show(expected[index].item())}, got {show(actual[index].item())}"
                       + diagnosis(actual, mistakes, tolerance))


def block_mistakes(x, blocksize: int) -> dict:
    """What the usual wrong blockings give for the block absmax of `x` (a 2-D tensor)."""
    return {
        "your blocks take every n-th value (wrong axis): a block is consecutive values of x.flatten()":
            x.flatten().reshape(blocksize, -1).abs().amax(dim=0),
        "your blocks run down the columns: cut x.flatten(), not x.t(), into consecutive blocks":
            x.t().flatten().reshape(-1, blocksize).abs().amax(dim=1),
        "you took one absmax per row of x; take one per block of consecutive values": x.abs().amax(dim=1),
        "you took one absmax for the whole tensor; take one per block": x.abs().max(),
    }
