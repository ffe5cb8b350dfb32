"""The checker process: `python -m tutor.engine.exercise_runner TARGETS_JSON`.

TARGETS_JSON lists `[slug, checks.py, learner file, seconds]`; results name their target by
index. For each, the learner's file is imported (never written: no bytecode cache) and every
`check_*` function of the checks file is called with it, in file order, all within `seconds`
(a timer signal interrupts a learner's endless loop). Results go to the original stdout as
JSON lines; whatever the learner's code prints goes to stderr. Several exercises share one
process, so torch and the libraries are imported once. The parent kills this process if it
outlives all the limits (a loop inside native code ignores the timer signal).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType

sys.dont_write_bytecode = True


class TimeLimit(BaseException):
    """The exercise's time ran out (a BaseException, so `except Exception` in learner code won't swallow it)."""


def _on_alarm(signum, frame):
    raise TimeLimit


def load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def checks_of(module: ModuleType) -> list:
    """The module's `check_*` functions in the order they are written."""
    return [value for name, value in vars(module).items() if name.startswith("check_") and callable(value)]


def explain_failure(exc: BaseException, mine: set[Path]) -> str:
    """A learner's exception as their own traceback (frames in `mine`, their files); anything
    else as one line."""
    from tutor.engine.checking import Mismatch

    if isinstance(exc, Mismatch):
        return str(exc)
    if isinstance(exc, TimeLimit):
        return ("stopped: the time limit for these checks ran out. "
                "Does your code loop forever, or work on far more data than it needs?")
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve() in mine:
        return "your file does not compile:\n" + "".join(traceback.format_exception_only(exc)).rstrip()
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() in mine]
    if not frames:
        return (f"could not check: {type(exc).__name__}: {exc} "
                "(does your code return what its docstring asks for?)")
    if isinstance(exc, NotImplementedError):
        where = frames[-1]
        return (f"not written yet: {where.name}() in {Path(where.filename).name} still raises NotImplementedError "
                "(its TODO)")
    return ("your code raised an exception (traceback trimmed to your file):\n"
            + "".join(traceback.format_list(frames))
            + "".join(traceback.format_exception_only(exc)).rstrip())


def run_exercise(slug: str, checks_path: Path, learner_file: Path, seconds: float, emit) -> None:
    """Run one exercise's checks; `emit(check, passed, message)` reports each (passed None: started).

    The learner's folder is on the import path while it runs, so a file may import their
    earlier exercises (train-loop imports lora_linear); those count as their files too.
    """
    checks = load_module(f"checks_{slug.replace('-', '_')}", checks_path)
    deadline = time.monotonic() + seconds
    steps = [("your file loads", None)] + [
        ((check.__doc__ or check.__name__).strip().splitlines()[0], check) for check in checks_of(checks)]
    folder, mine, learner = learner_file.parent, {learner_file}, None
    modules_before = set(sys.modules)
    sys.path.insert(0, str(folder))
    try:
        for name, check in steps:
            emit(name, None, "")  # started: if the parent has to kill us, this is the culprit
            try:
                signal.setitimer(signal.ITIMER_REAL, max(deadline - time.monotonic(), 0.001))
                if check is None:
                    learner = load_module(f"learner_{slug.replace('-', '_')}", learner_file)
                else:
                    check(learner)
            except BaseException as exc:  # noqa: BLE001 - report it, then go on with the next check
                mine |= set(_modules_from(folder, set(sys.modules) - modules_before).values())
                emit(name, False, explain_failure(exc, mine))
                if learner is None:
                    return
            else:
                if check is not None:
                    emit(name, True, "")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        sys.path.remove(str(folder))
        for name in _modules_from(folder, set(sys.modules) - modules_before):
            del sys.modules[name]  # the next exercise's folder may hold its own lora_linear


def _modules_from(folder: Path, names: set[str]) -> dict[str, Path]:
    """Those of the modules `names` that were loaded from `folder`: name -> file."""
    found = {}
    for name in names:
        file = getattr(sys.modules.get(name), "__file__", None)
        if file and Path(file).resolve().parent == folder:
            found[name] = Path(file).resolve()
    return found


def main(argv: list[str]) -> int:
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the learner's prints must not mix with the results

    signal.signal(signal.SIGALRM, _on_alarm)
    for index, (slug, checks_path, learner_path, seconds) in enumerate(json.loads(argv[0])):
        def emit(check: str, passed: bool | None, message: str, index: int = index) -> None:
            protocol.write(json.dumps({"target": index, "check": check, "passed": passed, "message": message}) + "\n")

        run_exercise(slug, Path(checks_path), Path(learner_path).resolve(), seconds, emit)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
