"""Import hygiene: the rooms import only what pyproject.toml's contracts allow, the headless
commands load no Textual, and the first screen never needs torch.

Each check runs in a fresh interpreter, so modules imported by other tests cannot hide a leak.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "bitsandbytes", "peft", "trl", "accelerate", "datasets")


def run_python(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_import_contracts_hold():
    """pyproject.toml's import-linter contracts: what each room may import, and no cycles."""
    result = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()"],
                            capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_cli_and_home_screen_do_not_import_heavy_libraries():
    run_python(f"""
        import asyncio, sys
        from tutor.cli import build_parser
        from tutor.ui.app import create_app
        from tutor.ui.screens.home import HomeScreen

        build_parser().parse_args([])

        async def show_home():
            app = create_app()
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                assert isinstance(app.screen, HomeScreen)

        asyncio.run(show_home())
        leaked = sorted(m for m in {HEAVY!r} if m in sys.modules)
        assert not leaked, leaked
    """)


def test_headless_commands_do_not_import_textual(tmp_path):
    """Each command really runs (doctor's checks, inspect on the meta device, a run replayed,
    every lesson printed whole: `show` prints the panels' reports, never imports a panel)."""
    run_python(f"""
        import contextlib, io, os, sys
        os.environ["QLORA_TUTOR_HOME"] = {str(tmp_path)!r}
        from tests.fakes import write_dead_run
        from tutor.cli import main
        from tutor.engine.lessons import load_catalog

        write_dead_run("train", [{{"type": "end", "t": 1.0, "status": "finished"}}])
        commands = [["doctor"], ["inspect", "--model", "llama-3.1-8b", "-r", "4"], ["runs"],
                    ["runs", os.listdir({str(tmp_path / "runs")!r})[0]], ["train", "--lora-r", "0"]]
        shows = [["show", lesson.slug] for lesson in load_catalog()]
        for argv in commands + shows:
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                code = main(argv)
            leaked = sorted(m for m in sys.modules
                            if m.split(".")[0] in ("textual", "textual_plotext") or m.startswith("lessons.panels"))
            assert not leaked, (argv, leaked[:5])
            if argv in shows:
                assert code == 0 and "[panel " not in out.getvalue(), (argv, code, out.getvalue()[-2000:])
    """)
