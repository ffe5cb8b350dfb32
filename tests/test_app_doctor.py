"""The doctor report as a TUI screen, on a machine without a GPU."""

from __future__ import annotations

import pytest
from fixtures import make_app

from tutor.ui.screens.doctor import DoctorScreen


async def test_doctor_screen_without_gpu_shows_warnings_and_a_verdict(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("d")
        screen = app.screen
        assert isinstance(screen, DoctorScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        lines = [str(check.render()) for check in screen.query(".check")]
        assert any(line.startswith("WARN GPU") for line in lines)
        assert not screen.query(".check.-fail")
        assert "Ready, with warnings" in str(screen.query_one("#verdict").render())
        await pilot.press("h")
        assert not isinstance(app.screen, DoctorScreen)
