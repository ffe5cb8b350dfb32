"""What the learner sees at 80x24: the home screen and a lesson (over the fixture lessons).

Update after an intended change with: pytest tests/test_snapshots.py --snapshot-update
"""

from __future__ import annotations

from fixtures import make_app

SIZE = (80, 24)


def test_home_screen(snap_compare):
    assert snap_compare(make_app(), terminal_size=SIZE)


def test_lesson_screen(snap_compare):
    assert snap_compare(make_app(start_lesson="intro"), terminal_size=SIZE)
