"""What the learner sees of every lesson at 80x24 and 120x40, scrolled to each panel and to
the quiz: one app per lesson and size, one SVG per place.

Lesson text changes often; after an intended change regenerate every snapshot with:
    pytest --snapshot-update tests/test_snapshots*.py
"""

from __future__ import annotations

import pytest
from pytest_textual_snapshot import SVGImageExtension

from textual.widgets import Markdown, Static

from conftest import settle
from fakes import FakeRunner
from tutor.engine.lessons import load_catalog
from tutor.ui.app import create_app

SIZES = [(80, 24), (120, 40)]


def places(screen) -> list:
    """The lesson's panels and its quiz, in order (not the prose, not the one-line notes)."""
    body = screen.query_one("#lesson-body")
    return [child for child in body.children if type(child) not in (Markdown, Static)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("slug", [lesson.slug for lesson in load_catalog()])
async def test_lesson_at_each_panel(slug, size, snapshot):
    svg = snapshot.use_extension(SVGImageExtension)
    app = create_app(start_lesson=slug, runner=FakeRunner())
    differing = []
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        body = app.screen.query_one("#lesson-body")
        for index, panel in enumerate(places(app.screen)):
            body.scroll_to_widget(panel, top=True, animate=False, immediate=True)
            await settle(app, pilot)
            name = f"{index}-{panel.id or type(panel).__name__}"
            if not svg(name=name) == app.export_screenshot():
                differing.append(name)
    assert differing == []
