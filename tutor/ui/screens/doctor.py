"""The doctor report as a screen: the same checks as `qlora-tutor doctor`, run off the UI thread."""

from __future__ import annotations

from textual import work
from textual.worker import get_current_worker
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from tutor.engine.doctor import FAIL, WARN, Check, iter_checks
from tutor.render.doctor import check_line


class DoctorScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", key_display="esc"),
        Binding("h", "app.go_home", "Home"),
        Binding("r", "recheck", "Re-check"),
    ]

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
        with VerticalScroll(id="doctor"):
            yield Static("Is this machine ready for the labs?", classes="dialog-title")
            yield Vertical(id="checks")
            yield Static(id="verdict")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Doctor"
        self.action_recheck()

    def action_recheck(self) -> None:
        self.query_one("#checks").remove_children()
        self.query_one("#verdict", Static).update("checking…")
        self.run_checks()

    @work(thread=True, exclusive=True, group="doctor")
    def run_checks(self) -> None:
        """Runs in a thread: the checks import torch and bitsandbytes, which takes seconds."""
        worker = get_current_worker()
        checks = []
        for check in iter_checks():
            if worker.is_cancelled:  # the learner left the screen
                return
            checks.append(check)
            self.app.call_from_thread(self.add_check, check)
        if not worker.is_cancelled:
            self.app.call_from_thread(self.show_verdict, checks)

    def add_check(self, check: Check) -> None:
        self.query_one("#checks").mount(Static(check_line(check), classes=f"check -{check.status.lower()}"))

    def show_verdict(self, checks: list[Check]) -> None:
        statuses = [c.status for c in checks]
        if FAIL in statuses:
            verdict = f"{statuses.count(FAIL)} check(s) failed: fix those before the labs."
        elif WARN in statuses:
            verdict = "Ready, with warnings: read the hints above."
        else:
            verdict = "All good: this machine is ready for the labs."
        self.query_one("#verdict", Static).update(verdict)
