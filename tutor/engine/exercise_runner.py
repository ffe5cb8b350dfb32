"""The checker process: `python -m tutor.engine.exercise_runner TARGETS_JSON`.

TARGETS_JSON lists `[slug, checks.py, learner file]` triples; results name their triple by index. For each, the learner's file is
imported (never written: no bytecode cache) and every `check_*` function of the checks file
is called with it, in file order. Results go to the original stdout as JSON lines; whatever
the learner's code prints goes to stderr. Several exercises share one process, so torch and
the libraries are imported once. The parent (`tutor.engine.exercises`) enforces the time limit.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType

sys.dont_write_bytecode = True


def load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checks_of(module: ModuleType) -> list:
    """The module's `check_*` functions in the order they are written."""
    return [value for name, value in vars(module).items() if name.startswith("check_") and callable(value)]


def explain_failure(exc: BaseException, learner_file: Path) -> str:
    """A learner's exception as their own traceback; anything else as one line."""
    from tutor.engine.checking import Mismatch

    if isinstance(exc, Mismatch):
        return str(exc)
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve() == learner_file:
        return "your file does not compile:\n" + "".join(traceback.format_exception_only(exc)).rstrip()
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == learner_file]
    if not frames:
        return (f"could not check: {type(exc).__name__}: {exc} "
                "(does your code return what its docstring asks for?)")
    if isinstance(exc, NotImplementedError):
        return f"not written yet: {frames[-1].name}() still raises NotImplementedError (its TODO)"
    return ("your code raised an exception (traceback trimmed to your file):\n"
            + "".join(traceback.format_list(frames))
            + "".join(traceback.format_exception_only(exc)).rstrip())


def run_exercise(slug: str, checks_path: Path, learner_file: Path, emit) -> None:
    """Run one exercise's checks; `emit(check, passed, message)` reports each (passed None: started)."""
    checks = load_module(f"checks_{slug.replace('-', '_')}", checks_path)
    try:
        learner = load_module(f"learner_{slug.replace('-', '_')}", learner_file)
    except BaseException as exc:  # noqa: BLE001 - whatever the learner's file does on import
        emit("your file loads", False, explain_failure(exc, learner_file))
        return
    for check in checks_of(checks):
        name = (check.__doc__ or check.__name__).strip().splitlines()[0]
        emit(name, None, "")  # started: if the time limit strikes, this is the culprit
        try:
            check(learner)
        except BaseException as exc:  # noqa: BLE001 - report it, then go on with the next check
            emit(name, False, explain_failure(exc, learner_file))
        else:
            emit(name, True, "")


def main(argv: list[str]) -> int:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the learner's prints must not mix with the results

    for index, (slug, checks_path, learner_path) in enumerate(json.loads(argv[0])):
        def emit(check: str, passed: bool | None, message: str, index: int = index) -> None:
            protocol.write(json.dumps({"target": index, "check": check, "passed": passed, "message": message}) + "\n")

        run_exercise(slug, Path(checks_path), Path(learner_path).resolve(), emit)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
