"""Plots as text: plotext draws into a figure of its own, without Textual.

The panels pass their draw functions textual_plotext's `PlotextPlot.plt`, a subclass of the
same figure class, so one draw function serves the screen and the report.
"""

from __future__ import annotations

from typing import Callable

from plotext._figure import _figure_class as Figure  # plotext has no public figure constructor
from rich.text import Text


def plot_text(size: tuple[int, int], draw: Callable[..., None], *args) -> Text:
    """`draw(figure, *args)` on a fresh figure of `size` (columns, rows), built as coloured text."""
    figure = Figure()
    figure.plotsize(*size)
    figure.theme("clear")
    draw(figure, *args)
    return Text.from_ansi(figure.build())
