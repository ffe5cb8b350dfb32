"""The installed `qlora-tutor` in a real pseudo-terminal at 80x24, read back through a
terminal emulator (pyte): home, every lesson with `n`, contents, a quiz answered wrong then
right, a lab run on tiny to the end, quit. Keys go in bursts, as over a slow SSH link."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pexpect
import pyte
import pytest

from tutor.engine.lessons import Question, load_catalog

COLUMNS, LINES = 80, 24
REPO = Path(__file__).resolve().parent.parent
ENTER, ESC, TAB, SHIFT_TAB = "\r", "\x1b", "\t", "\x1b[Z"
DOWN, END, HOME, PAGE_UP = "\x1b[B", "\x1b[F", "\x1b[H", "\x1b[5~"
SPACE, CTRL_R = " ", "\x12"


class Terminal:
    """A child process on a pty, and the screen a VT100 would show for its output."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.screen = pyte.Screen(COLUMNS, LINES)
        self.stream = pyte.ByteStream(self.screen)
        self.child = pexpect.spawn(command[0], command[1:], env=env, dimensions=(LINES, COLUMNS))

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def pump(self) -> None:
        try:
            self.stream.feed(self.child.read_nonblocking(65536, timeout=0.1))
        except (pexpect.TIMEOUT, pexpect.EOF):  # an exit is reported by wait_for, with the screen
            pass

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        """Read the child's output until `text` is on screen; a crash or a timeout fails."""
        deadline = time.monotonic() + timeout
        while text not in self.text():
            if not self.child.isalive():
                self.drain()
                pytest.fail(f"qlora-tutor exited waiting for {text!r}; screen:\n{self.text()}\n"
                            f"last output:\n{self.child.before!r}")
            if time.monotonic() > deadline:
                pytest.fail(f"{text!r} never showed; screen:\n{self.text()}")
            self.pump()

    def send(self, *keys: str) -> None:
        """All keys in one write: a burst."""
        self.child.send("".join(keys))

    def drain(self) -> None:
        try:
            while True:
                self.stream.feed(self.child.read_nonblocking(65536, timeout=0.5))
        except (pexpect.TIMEOUT, pexpect.EOF):
            pass


def typed_answer(question: Question, right: bool) -> list[str]:
    """The keys that answer `question` from its focused field, rightly or not."""
    if question.choices:
        index = question.answer if right else (question.answer + 1) % len(question.choices)
        return [DOWN] * index + [SPACE]
    value = question.numeric if right else question.numeric * 2 + 7
    return list(f"{value:g}")


def header(lesson) -> str:
    """The start of the lesson's title bar (a long title is cut at 80 columns)."""
    return f"{lesson.order}/{len(load_catalog())} · {lesson.title}"[:40]


@pytest.fixture
def tutor(tutor_home: Path):
    executable = shutil.which("qlora-tutor", path=os.path.dirname(sys.executable)) or shutil.which("qlora-tutor")
    assert executable, "the qlora-tutor console script is not installed (pip install -e .)"
    # The checkout first, and the inherited path after it: where packages are installed with
    # --target (the lent GPU machine), the app's dependencies live there.
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": path, "COLUMNS": str(COLUMNS), "LINES": str(LINES)}
    terminal = Terminal([executable], env)
    yield terminal
    if terminal.child.isalive():
        terminal.child.terminate(force=True)


@pytest.mark.slow
def test_a_learner_walks_the_whole_app_at_80x24(tutor: Terminal):
    lessons = load_catalog()
    tutor.wait_for("Learn QLoRA by doing it")

    tutor.send(ENTER)
    tutor.wait_for(header(lessons[0]))
    tutor.send("n", "n")  # a burst: two lessons on
    tutor.wait_for(header(lessons[2]))
    for lesson in lessons[3:]:
        tutor.send("n")
        tutor.wait_for(header(lesson))

    tutor.send("t", END)
    tutor.wait_for(f"{lessons[-1].order} {lessons[-1].title}")  # the last lesson's row in Contents
    tutor.send(HOME, ENTER)
    tutor.wait_for(header(lessons[0]))

    # The quiz, first all wrong (answered from the last question up), then all right.
    questions = lessons[0].quiz
    tutor.send(END, SHIFT_TAB)  # from the prose back to "Check answers"
    for question in reversed(questions):
        tutor.send(SHIFT_TAB, *typed_answer(question, right=False))
    tutor.send(*[TAB] * len(questions), ENTER)
    tutor.wait_for(f"Last try: 0/{len(questions)}.")
    tutor.send(ENTER)  # "Try again" has the focus and question 1 comes into view
    tutor.wait_for(f"1. {questions[0].prompt[:40]}")
    for question in questions:
        tutor.send(*typed_answer(question, right=True), TAB)
    tutor.send(ENTER)
    tutor.wait_for(f"Last try: {len(questions)}/{len(questions)}.")

    # A lab on tiny, started with ctrl+r from the prose, to the end.
    lab = next(lesson for lesson in lessons if lesson.slug == "lab-train")
    row = sum(1 + len(lesson.headings) for lesson in lessons[: lessons.index(lab)])  # Contents: a row
    tutor.send("t", HOME, *[DOWN] * row, ENTER)  # per lesson and one per section heading
    tutor.wait_for(header(lab))
    tutor.send(PAGE_UP, CTRL_R)
    tutor.wait_for(": running", timeout=60)
    tutor.wait_for(": finished", timeout=300)

    tutor.send("q", "t")  # keys queued behind quit once crashed the app
    tutor.child.expect(pexpect.EOF, timeout=30)
    tutor.child.close()
    assert tutor.child.exitstatus == 0, tutor.text()
