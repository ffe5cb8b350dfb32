"""LiveText: status lines rewritten by job events skip unchanged text and the screen's relayout."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tutor.ui.widgets.live_text import LiveText


class OneLine(App):
    CSS = "LiveText { width: 40; }"

    def compose(self) -> ComposeResult:
        yield LiveText("step 1/65", id="line")


async def test_one_line_rewrites_skip_the_relayout_and_unchanged_text_is_not_redrawn(monkeypatch) -> None:
    app = OneLine()
    async with app.run_test(size=(60, 10)) as pilot:
        line = app.query_one(LiveText)
        layouts: list[bool] = []
        original = LiveText.update
        monkeypatch.setattr(LiveText, "update", lambda self, content, *, layout=True: (
            layouts.append(layout), original(self, content, layout=layout)))
        line.show("step 2/65 · [b]loss 9.8[/b]")
        line.show("step 2/65 · [b]loss 9.8[/b]")  # the same: nothing to do
        await pilot.pause()
        assert layouts == [False]
        assert "loss 9.8" in str(line.render())
        line.show("failed: out of memory\nhint: lower batch_size")  # two lines: the height changes
        line.show("x" * 41)  # wider than the line: it wraps
        assert layouts == [False, True, True]
        await pilot.pause()
        assert line.size.height == 2
