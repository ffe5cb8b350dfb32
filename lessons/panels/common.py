"""What the lesson panels share: inline input checks, and thread workers for heavy numbers.

Heavy numbers (torch, bitsandbytes, peft) are computed in thread workers so the lesson draws
at once. Several panels of one lesson start their workers together; the first imports of
torch and transformers from parallel threads can collide (a half-initialised module raises
ImportError), so every heavy worker takes `HEAVY_WORK` first.
"""

from __future__ import annotations

import threading

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.css.query import NoMatches
from textual.widgets import Input, Static
from textual.worker import get_current_worker

HEAVY_WORK = threading.Lock()
COMPUTING = Text("computing…", style="italic dim")


def input_problems(*inputs: Input) -> str:
    """The inputs' validation failures as one line, empty when all are valid."""
    return "; ".join(d for i in inputs for d in i.validate(i.value).failure_descriptions)


def failure(exc: Exception) -> Text:
    return Text(f"could not compute this: {type(exc).__name__}: {exc}", style="bold red")


class WorkerPanel(Vertical):
    """A panel whose numbers come from a thread worker; the result replaces "computing…".

    Subclasses compose a Static with id "result" and implement `compute` and `show`.
    """

    @staticmethod
    def compute(*args):
        """Runs in the worker thread (and in `report`); returns what `show` displays."""
        raise NotImplementedError

    def show(self, result) -> None:
        raise NotImplementedError

    @work(thread=True, exclusive=True)
    def start_computing(self, *args) -> None:
        try:
            with HEAVY_WORK:
                result = self.compute(*args)
        except Exception as exc:  # a broken bitsandbytes install must not take the lesson down
            self.app.call_from_thread(self.show_unless_gone, failure(exc), failed=True)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.show_unless_gone, result)

    def show_unless_gone(self, result, failed: bool = False) -> None:
        """The learner may have moved on (n, Contents) while the worker ran: the panel's
        widgets are then being removed, and there is nothing left to show it in."""
        try:
            if failed:
                self.query_one("#result", Static).update(result)
            else:
                self.show(result)
            # A result that lands before the panel's first layout (fast, once the libraries are
            # imported) kept the height of "computing…": lay the result out again once drawn.
            self.call_after_refresh(self.query_one("#result", Static).refresh, layout=True)
        except NoMatches:
            pass


class ResultPanel(WorkerPanel):
    """A WorkerPanel whose `compute` returns the renderable for its "result" Static. Alone it
    is a report computed once on mount; subclasses add controls by overriding `compose`."""

    def compose(self) -> ComposeResult:
        yield Static(COMPUTING, id="result")

    def on_mount(self) -> None:
        self.start_computing()

    def show(self, result) -> None:
        self.query_one("#result", Static).update(result)
