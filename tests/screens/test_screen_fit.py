"""Every lesson at 80x24 and 120x40: no panel drawn shorter than its content (the outlier
panel once collapsed to one line) and no line cut at the right edge."""

from __future__ import annotations

import pytest
from rich.console import ConsoleRenderable, RichCast
from rich.measure import Measurement
from textual.widgets import Static

from conftest import settle
from fakes import FakeRunner
from tutor.engine.lessons import load_catalog
from tutor.ui.app import create_app

SIZES = [(80, 24), (120, 40)]


def misfits(screen) -> list[str]:
    """What does not fit in the lesson body, one line per widget.

    Containers and scroll views: their content against their box (sideways always, since a
    scrollbar-less sideways scroll hides text; downwards unless they scroll). Statics: the
    lines their text needs at their width, and the narrowest width a table can take.
    """
    console = screen.app.console
    found = []
    for widget in screen.query_one("#lesson-body").walk_children():
        if not widget.display or not widget.region.width:
            continue
        if widget.is_scrollable:
            content, box = widget.virtual_size, widget.scrollable_content_region
            if content.width > box.width and not widget.show_horizontal_scrollbar:
                found.append(f"{widget!r} is {content.width} wide in {box.width} columns")
            if content.height > box.height and not widget.allow_vertical_scroll:
                found.append(f"{widget!r} needs {content.height} lines, has {box.height}")
        elif isinstance(widget, Static):
            size = widget.content_size
            needed = widget.get_content_height(size, screen.size, size.width)
            if needed > size.height:
                found.append(f"{widget!r} needs {needed} lines, has {size.height}")
            visual = widget.render()
            if isinstance(visual, (ConsoleRenderable, RichCast)):
                narrowest = Measurement.get(console, console.options.update_width(10_000), visual).minimum
                if narrowest > size.width:
                    found.append(f"{widget!r} needs {narrowest} columns, has {size.width}")
    return found


@pytest.mark.parametrize("slug", [lesson.slug for lesson in load_catalog()])
async def test_every_panel_fits_at_the_sizes_people_use(slug):
    app = create_app(start_lesson=slug, runner=FakeRunner())
    async with app.run_test(size=SIZES[0]) as pilot:
        for size in SIZES:
            await pilot.resize_terminal(*size)
            await settle(app, pilot)
            assert misfits(app.screen) == [], size
