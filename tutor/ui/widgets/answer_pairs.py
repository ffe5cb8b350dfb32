"""Before and after, prompt by prompt: the base answer and the fine-tuned one side by side,
the words that differ highlighted, and how many answers take the training data's shape.

Fed by a compare job's events: `prompts` (what it will ask, how it decodes, whether as chat
turns), `token` and `generation` (each with the prompt's index) and `shape` (the count,
tutor.engine.shape).
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tutor.ui.widgets.live_text import LiveText

STREAMS = ("base", "tuned")
CHANGED = {"base": "red", "tuned": "bold green"}
SHAPE_STYLE = "underline"


def underline_runs(text: Text, runs: list[str]) -> Text:
    """Underline each run of words (as tutor.engine.shape found it: lower-cased, without
    punctuation) where it occurs in the answer, so the learner sees what made it count."""
    for run in runs:
        pattern = r"\b" + r"\W+".join(re.escape(word) for word in run.split()) + r"\b"
        text.highlight_regex(re.compile(pattern, re.IGNORECASE), SHAPE_STYLE)
    return text


def word_diff(base: str, tuned: str) -> tuple[Text, Text]:
    """Both answers with the words only one of them has highlighted (a word-level diff)."""
    words = {"base": base.split(), "tuned": tuned.split()}
    shown = {"base": Text(), "tuned": Text()}
    matcher = SequenceMatcher(a=words["base"], b=words["tuned"], autojunk=False)
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        spans = {"base": words["base"][a_start:a_end], "tuned": words["tuned"][b_start:b_end]}
        for stream in STREAMS:
            if spans[stream]:
                shown[stream].append(" ".join(spans[stream]) + " ", style="" if tag == "equal" else CHANGED[stream])
    return shown["base"], shown["tuned"]


class AnswerPairs(Vertical):
    DEFAULT_CSS = Path(__file__).with_suffix(".tcss").read_text(encoding="utf-8")

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.prompts: list[str] = []
        self.answers: dict[tuple[int, str], str] = {}
        self.shape_runs: dict[tuple[int, str], list[str]] = {}

    def compose(self) -> ComposeResult:
        yield LiveText("", classes="answer-pairs-decoding")
        yield LiveText("", classes="answer-pairs-shape")
        yield Static("", classes="answer-pairs-body")

    def apply(self, events: list[dict]) -> None:
        changed = False
        for event in events:
            kind = event.get("type")
            if kind == "prompts":
                self.prompts = list(event["prompts"])
                asked = f"\n{event['asked_as']}" if event.get("asked_as") else ""
                self.query_one(".answer-pairs-decoding", LiveText).show(
                    f"[b]decoding:[/b] {event['decoding']}  [dim](a repetition penalty above 1 lowers every "
                    f"token already written, the prompt's own words too)[/dim]{asked}")
            elif kind == "shape":
                for stream in STREAMS:  # the runs are per held-out answer, prompt 1 onwards
                    for index, runs in enumerate(event[f"{stream}_runs"], start=1):
                        self.shape_runs[index, stream] = runs
                self.query_one(".answer-pairs-shape", LiveText).show(
                    f"[b]takes the training data's shape[/b] (repeats a 4-word run that 3+ training prompts "
                    f"share and its own prompt lacks, underlined below): base {event['base']}/{event['total']} · "
                    f"fine-tuned [b]{event['tuned']}/{event['total']}[/b]")
            elif kind in ("token", "generation") and event.get("stream") in STREAMS:
                key = (int(event.get("index") or 0), event["stream"])
                if kind == "token":
                    self.answers[key] = self.answers.get(key, "") + str(event.get("text", ""))
                else:
                    self.answers[key] = str(event.get("text", ""))
                    if key[0] >= len(self.prompts):  # a run without a `prompts` event
                        self.prompts += [str(event.get("prompt", ""))] * (key[0] + 1 - len(self.prompts))
            else:
                continue
            changed = True
        if changed:
            self.query_one(".answer-pairs-body", Static).update(self._pairs())

    def clear(self) -> None:
        self.prompts, self.answers, self.shape_runs = [], {}, {}
        for line in self.query(LiveText):
            line.show("")
        self.query_one(".answer-pairs-body", Static).update("")

    def _pairs(self) -> Group:
        """Per prompt: the prompt, then the two answers in two columns."""
        blocks = [self._row(Text("base model (adapter off)", style="b"), Text("fine-tuned (adapter on)", style="b"))]
        for index, prompt in enumerate(self.prompts):
            base, tuned = self.answers.get((index, "base"), ""), self.answers.get((index, "tuned"), "")
            label = "the lesson's prompt" if index == 0 else f"held-out prompt {index}"
            blocks.append(Text.assemble((f"\n{label}: ", "dim"), (prompt, "italic")))
            before, after = word_diff(base, tuned) if tuned else (Text(base), Text(""))
            blocks.append(self._row(underline_runs(before, self.shape_runs.get((index, "base"), [])),
                                    underline_runs(after, self.shape_runs.get((index, "tuned"), []))))
        return Group(*blocks)

    @staticmethod
    def _row(left: Text, right: Text) -> Table:
        grid = Table.grid(expand=True, padding=(0, 2, 0, 0))
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        grid.add_row(left, right)
        return grid
