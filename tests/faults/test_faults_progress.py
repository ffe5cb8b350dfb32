"""Progress survives a second instance, a home that cannot be written, and a folder in its place."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures import make_app

from tutor.cli import main
from tutor.engine.progress import DONE, IN_PROGRESS, NOT_STARTED, load_progress
from tutor.paths import progress_file

REPO = Path(__file__).resolve().parents[2]


def test_two_instances_on_one_home_keep_both_results():
    first, second = load_progress(), load_progress()  # two app instances, both started empty
    first.record_quiz("quizzed", score=2, total=2, passed=True)
    second.mark_opened("intro")  # knows nothing of the quiz in memory, must not erase it
    second.mark_done("intro")

    on_disk = load_progress()
    assert on_disk.status("quizzed") == DONE and on_disk.of("quizzed").best_score == 2
    assert on_disk.status("intro") == DONE and on_disk.last_lesson == "intro"
    assert second.status("quizzed") == DONE  # the merged record is what the second one shows now


WRITER = """
import sys
from tutor.engine.progress import load_progress
progress = load_progress()
sys.stdin.readline()  # start together
for n in range(int(sys.argv[2])):
    progress.record_quiz(f"{sys.argv[1]}-{n}", score=n, total=40, passed=n % 2 == 0)
"""


def test_two_processes_writing_at_once_lose_nothing(tutor_home):
    count = 40
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, name, str(count)], cwd=REPO, stdin=subprocess.PIPE,
                                text=True) for name in ("a", "b")]
    for writer in writers:
        writer.stdin.write("go\n")
        writer.stdin.flush()
    assert [writer.wait(timeout=60) for writer in writers] == [0, 0]

    lessons = json.loads(progress_file().read_text())["lessons"]
    assert sorted(lessons) == sorted(f"{name}-{n}" for name in "ab" for n in range(count))
    assert lessons["a-3"] == {"status": NOT_STARTED, "best_score": 3, "quiz_total": 40, "measured": None}
    assert lessons["b-38"]["status"] == DONE


def test_progress_json_that_is_a_folder(capsys):
    progress_file().mkdir()
    progress = load_progress()
    assert "it is a folder" in progress.not_saved
    progress.mark_opened("intro")  # still works in memory
    assert progress.last_lesson == "intro" and progress_file().is_dir()

    assert main(["progress"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "progress is not saved" in err and "Traceback" not in err
    assert main(["progress", "--reset"]) == 2
    assert "cannot reset" in capsys.readouterr().err


def test_a_disk_that_fills_up_keeps_the_file_and_says_why(monkeypatch):
    load_progress().mark_opened("intro")
    before = progress_file().read_text()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("tutor.storage.os.fsync", full)  # the temporary file is written, then the disk fills
    progress = load_progress()
    progress.mark_done("intro")
    assert progress.not_saved == f"progress is not saved (cannot write {progress_file()}: the disk is full)"
    assert progress.status("intro") == DONE  # kept in memory for this session
    assert progress_file().read_text() == before
    assert sorted(p.name for p in progress_file().parent.iterdir()) == ["progress.json", "progress.json.lock"]


@pytest.fixture
def home_is_a_file(tutor_home, monkeypatch):
    """A data home that cannot be created: a plain file sits where the folder should be (works as root too)."""
    blocker = tutor_home / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("QLORA_TUTOR_HOME", str(blocker))
    return blocker


async def test_tui_opens_lessons_read_only_when_home_is_a_file(home_is_a_file):
    app = make_app(start_lesson="intro")
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.screen.lesson.slug == "intro"
        warnings = [n.message for n in app._notifications if n.title == "Progress not saved"]
        assert len(warnings) == 1 and "a file is in the way" in warnings[0]
        await pilot.press("n")
        assert app.screen.lesson.slug == "quizzed"
        assert app.progress.status("intro") == DONE  # remembered for the session
    assert home_is_a_file.read_text() == ""


@pytest.mark.parametrize("argv", [["runs"], ["train", "--model", "tiny"], ["progress", "--reset"]])
def test_commands_say_in_one_line_that_home_is_a_file(home_is_a_file, capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and "Traceback" not in err
    assert str(home_is_a_file) in err


async def test_tui_says_once_when_the_disk_fills_during_a_session(monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    app = make_app(start_lesson="intro")
    async with app.run_test() as pilot:
        await pilot.pause()
        monkeypatch.setattr("tutor.storage.os.fsync", full)
        await pilot.press("n")
        await pilot.press("p")
        warnings = [n.message for n in app._notifications if n.title == "Progress not saved"]
        assert len(warnings) == 1 and "the disk is full" in warnings[0]
        assert app.progress.status("intro") == DONE
    assert load_progress().status("intro") == IN_PROGRESS  # what was saved before the disk filled


async def test_a_lab_run_on_a_home_that_is_a_file_is_one_line_in_the_panel(home_is_a_file):
    from fakes import FakeRunner
    from textual.widgets import Static

    from lessons.panels.lab_train import LabTrainPanel
    from tutor.ui.app import create_app

    app = create_app(start_lesson="lab-train", runner=FakeRunner(steps=2))
    async with app.run_test(size=(100, 40)) as pilot:
        panel = app.screen.query_one(LabTrainPanel)
        panel.action_start()  # presses #start
        await pilot.pause()
        status = str(panel.query_one(".lab-status", Static).render())
        assert f"cannot create the tutor's folder {home_is_a_file}: a file is in the way" in status
        assert panel.run is None
