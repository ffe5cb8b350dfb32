"""The write-it-yourself exercises: every solution passes, every untouched file and every
typical mistake fails with a message that says what is wrong, and the checker contains
learners' crashes and endless loops. All files go through the real checker process, batched
into one run so torch and the libraries load once."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutor.engine.exercises import Exercise, Report, load_exercises, run_checks

# (exercise, [(text in the solution, replacement)], words the failure message must contain)
MISTAKES = [
    ("absmax", [("return 2 ** (bits - 1) - 1", "return 2 ** bits - 1")], "one bit holds the sign"),
    ("absmax", [("return round(value * max_level(bits))", "return int(value * max_level(bits))")], "you truncated"),
    ("absmax", [("absmax = x.abs().amax(dim=1)", "absmax = x.amax(dim=1)")], "not the max of the absolute values"),
    ("blockwise", [("blocks = x.flatten().reshape(-1, blocksize)", "blocks = x.flatten().reshape(blocksize, -1).t()")],
     "wrong axis"),
    ("blockwise", [("blocks = x.flatten().reshape(-1, blocksize)", "blocks = x.reshape(x.shape[0], -1)")],
     "one absmax per row"),
    ("nf4-levels", [("_probabilities(7)", "_probabilities(8)"), (" + [0.0])", ")")], "symmetric halves"),
    ("nf4-levels", [("top = max(positive)", "top = 1.0")], "divide every quantile by the largest"),
    ("nf4-levels", [("normal.inv_cdf(p) for p in _probabilities(8)", "(i + 1) / 8 for i in range(8)"),
                    ("-normal.inv_cdf(p) for p in _probabilities(7)", "-(i + 1) / 7 for i in range(7)")],
     "evenly spaced"),
    ("nf4-quantize", [("return (indices[0::2] << 4) | indices[1::2]", "return (indices[1::2] << 4) | indices[0::2]")],
     "low 4 bits"),
    ("nf4-quantize", [("normalized = blocks / absmax[:, None]", "normalized = blocks")], "divide each block by its absmax"),
    ("nf4-quantize", [("return (levels * absmax[:, None]).flatten()", "return levels.flatten()")],
     "without multiplying by their block's absmax"),
    ("double-quant", [("offset = absmax.mean()", "offset = absmax.mean() * 0")], "subtract their mean"),
    ("double-quant", [("8 / blocksize + 32 / (blocksize * blocksize2)", "8 / blocksize + 32 / blocksize")],
     "shared by 256 blocks"),
    ("double-quant", [("8 / blocksize + 32 / (blocksize * blocksize2)", "8 / blocksize")], "left out the fp32 absmax"),
    ("lora-linear", [("self.scaling = alpha / r", "self.scaling = r / alpha")], "r / alpha"),
    ("lora-linear", [("nn.init.zeros_(self.lora_B.weight)", "pass")], "start B at zero"),
    ("lora-linear", [("self.base(x) + self.lora_B(self.lora_A(self.dropout(x))) * self.scaling",
                      "self.dropout(self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling)")],
     "applied dropout to the layer's output"),
    ("lora-count", [("r * (module.in_features + module.out_features)", "module.in_features * module.out_features")],
     "full weight"),
    ("lora-count", [("FP32_BYTES = 4", "FP32_BYTES = 2")], "4 bytes per parameter, not 2"),
    ("lora-count", [(' and name.rsplit(".", 1)[-1] in target_modules', "")], "every nn.Linear"),
    ("plan-configs", [('bnb_4bit_quant_type="nf4"', 'bnb_4bit_quant_type="fp4"')], "fp4 is bitsandbytes' default"),
    ("plan-configs", [("gradient_checkpointing=True", "gradient_checkpointing=False")], "turn on gradient"),
    ("plan-configs", [('target_modules="all-linear"', 'target_modules=["q_proj", "v_proj"]')], "all linear layers"),
    ("train-loop", [("    model.requires_grad_(False)\n", "")], "did not freeze the model"),
    ("train-loop", [("        optimizer.step()\n", "")], "optimizer.step()"),
]

CRASH = "def max_level(bits):\n    return 1 // 0\n"
BROKEN = "def max_level(bits)\n    return 7\n"


def by_slug() -> dict[str, Exercise]:
    return {exercise.slug: exercise for exercise in load_exercises()}


def with_mistake(exercise: Exercise, replacements: list[tuple[str, str]]) -> str:
    text = exercise.solution.read_text()
    for old, new in replacements:
        assert old in text, f"{exercise.slug}: the mistake's text {old!r} is not in the solution"
        text = text.replace(old, new)
    return text


def workspace(folder, exercises, source) -> list[tuple[Exercise, Path]]:
    """Each exercise's `source` file under the name a learner's workspace gives it."""
    folder.mkdir()
    for exercise in exercises:
        (folder / exercise.file_name).write_text(source(exercise).read_text())
    return [(exercise, folder / exercise.file_name) for exercise in exercises]


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> dict[str, list]:
    """One checker run over all solutions, all untouched files, all mistakes and two crashes."""
    root = tmp_path_factory.mktemp("learner")
    exercises = by_slug()
    groups = {"solutions": workspace(root / "solutions", exercises.values(), lambda e: e.solution),
              "untouched": workspace(root / "untouched", exercises.values(), lambda e: e.template)}
    folder = root / "mistakes"
    workspace(folder, [exercises["lora-linear"]], lambda e: e.solution)  # what train-loop imports
    groups["mistakes"] = []
    for index, (slug, replacements, _) in enumerate(MISTAKES):
        file = folder / f"mistake_{index}.py"
        file.write_text(with_mistake(exercises[slug], replacements))
        groups["mistakes"].append((exercises[slug], file))
    for name, text in (("crash", CRASH), ("broken", BROKEN)):
        (folder / f"{name}.py").write_text(text)
        groups[name] = [(exercises["absmax"], folder / f"{name}.py")]
    files = sorted(root.rglob("*"))
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in files if path.is_file()}
    targets = [target for group in groups.values() for target in group]
    reports = iter(run_checks(targets))
    result = {name: [next(reports) for _ in group] for name, group in groups.items()}
    result["unchanged"] = before == {path: (path.read_bytes(), path.stat().st_mtime_ns)
                                     for path in sorted(root.rglob("*")) if path.is_file()}
    return result


def failures(report: Report) -> list[str]:
    return [result.message for result in report.results if not result.passed]


def test_every_solution_passes_every_check(checked):
    for report in checked["solutions"]:
        assert report.passed, (report.exercise, failures(report))
        assert len(report.results) >= 2


def test_untouched_exercises_fail_saying_not_written_yet(checked):
    assert len(checked["untouched"]) >= 8
    for report in checked["untouched"]:
        assert not report.passed
        for message in failures(report):
            assert message.startswith("not written yet: ") and "NotImplementedError" in message, message
            assert "Traceback" not in message


@pytest.mark.parametrize("index", range(len(MISTAKES)), ids=[f"{m[0]}-{i}" for i, m in enumerate(MISTAKES)])
def test_typical_mistake_fails_pointing_at_it(checked, index):
    slug, _, words = MISTAKES[index]
    report = checked["mistakes"][index]
    assert not report.passed
    assert any(words in message for message in failures(report)), failures(report)


def test_each_exercise_has_two_typical_mistakes():
    slugs = [slug for slug, _, _ in MISTAKES]
    assert all(slugs.count(exercise.slug) >= 2 for exercise in load_exercises())


def test_learner_exception_is_their_traceback_trimmed_to_their_file(checked):
    message = failures(checked["crash"][0])[0]
    assert "traceback trimmed to your file" in message
    assert "crash.py" in message and "ZeroDivisionError" in message
    assert "checks.py" not in message and "exercise_runner" not in message


def test_file_that_does_not_compile_says_so(checked):
    (result,) = checked["broken"][0].results
    assert result.check == "your file loads" and not result.passed
    assert "does not compile" in result.message and "SyntaxError" in result.message


def test_checks_never_modify_the_learners_files(checked):
    assert checked["unchanged"]


def test_endless_loop_is_stopped_by_the_time_limit(tmp_path):
    file = tmp_path / "absmax.py"
    file.write_text("def max_level(bits):\n    while True:\n        pass\n")
    (report,) = run_checks([(by_slug()["absmax"], file)], time_limit=2)
    assert not report.passed
    assert "time limit" in report.results[0].message
    assert report.results[0].check.startswith("max_level")


def test_missing_file_says_how_to_start(tmp_path):
    (report,) = run_checks([(by_slug()["absmax"], tmp_path / "nowhere.py")])
    assert "qlora-tutor exercise start absmax" in report.results[0].message
