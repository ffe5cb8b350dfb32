"""`qlora-tutor exercise` without the checker process: listing, starting, hints, the gated
solution, and the lessons' links to the exercises (the checks themselves: test_exercises.py)."""

from __future__ import annotations

from tutor.cli import main
from tutor.engine.exercises import find_exercise, load_exercises
from tutor.engine.lessons import load_catalog


def test_list_shows_every_exercise_not_started(capsys):
    assert main(["exercise", "list"]) == 0
    out = capsys.readouterr().out
    assert len(load_exercises()) >= 8
    for exercise in load_exercises():
        assert f"{exercise.slug:<14} not started" in out
    assert f"0/{len(load_exercises())} passing" in out


def test_start_copies_the_exercise_once_and_keeps_edits(capsys, tutor_home):
    assert main(["exercise", "start", "absmax"]) == 0
    file = tutor_home / "exercises" / "absmax.py"
    assert file.read_text() == find_exercise("absmax").template.read_text()
    assert str(file) in capsys.readouterr().out
    file.write_text("# my work\n")
    assert main(["exercise", "start", "absmax"]) == 0
    assert "Already started" in capsys.readouterr().out
    assert file.read_text() == "# my work\n"
    main(["exercise", "list"])
    assert "absmax         started" in capsys.readouterr().out


def test_start_in_a_chosen_folder_is_remembered(tmp_path, capsys):
    assert main(["exercise", "start", "lora-count", "--dir", str(tmp_path)]) == 0
    file = tmp_path / "lora_count.py"
    assert file.exists()
    file.unlink()  # checking a missing file needs no checker process
    assert main(["exercise", "check", "lora-count"]) == 1
    assert f"{file} does not exist" in capsys.readouterr().out


def test_hints_come_one_at_a_time(capsys):
    hints = find_exercise("nf4-levels").hints
    for number in (1, 2, 3, 3):
        assert main(["exercise", "hint", "nf4-levels"]) == 0
        assert capsys.readouterr().out.startswith(f"Hint {number}/{len(hints)} for nf4-levels: {hints[number - 1]}")


def test_solution_opens_after_one_failed_check(tutor_home, capsys):
    assert main(["exercise", "solution", "absmax"]) == 2
    assert "opens after one failed check" in capsys.readouterr().err
    assert main(["exercise", "start", "absmax"]) == 0
    file = tutor_home / "exercises" / "absmax.py"
    file.unlink()
    assert main(["exercise", "check", "absmax"]) == 1  # no attempt: the solution stays closed
    assert main(["exercise", "solution", "absmax"]) == 2
    file.write_text("def max_level(bits)\n")  # an attempt, however bad, opens it
    assert main(["exercise", "check", "absmax"]) == 1
    assert "does not compile" in capsys.readouterr().out
    assert main(["exercise", "solution", "absmax"]) == 0
    assert capsys.readouterr().out == find_exercise("absmax").solution.read_text()


def test_unknown_exercise_and_nothing_started_are_one_line_errors(capsys):
    assert main(["exercise", "hint", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qlora-tutor: unknown exercise 'nope'") and "absmax" in err
    assert main(["exercise", "check"]) == 2
    assert "no exercise started yet" in capsys.readouterr().err


def test_progress_counts_passed_exercises(capsys):
    assert main(["progress"]) == 0
    assert f"Exercises: 0/{len(load_exercises())} passing" in capsys.readouterr().out


def test_lessons_link_every_exercise_and_only_real_ones():
    linked = [slug for lesson in load_catalog() for slug in lesson.exercises]
    assert sorted(linked) == sorted(exercise.slug for exercise in load_exercises())


def test_watch_without_a_started_file_says_how_to_start(capsys):
    assert main(["exercise", "watch", "double-quant"]) == 2
    assert "qlora-tutor exercise start double-quant" in capsys.readouterr().err


def test_starting_the_train_loop_puts_its_lora_layer_beside_it(tmp_path, capsys):
    assert main(["exercise", "start", "train-loop", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "lora_linear.py").read_text() == find_exercise("lora-linear").template.read_text()
    assert (tmp_path / "train_loop.py").exists()
