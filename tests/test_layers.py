"""Import hygiene: the engine never needs Textual, and the first screen never needs torch.

Each check runs in a fresh interpreter, so modules imported by other tests cannot hide a leak.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = ("torch", "transformers", "bitsandbytes", "peft", "trl", "accelerate", "datasets")


def run_python(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_engine_modules_do_not_import_textual():
    run_python("""
        import sys
        import tutor.engine.doctor, tutor.engine.events, tutor.engine.lessons, tutor.engine.progress
        leaked = sorted(m for m in sys.modules if m.split(".")[0] == "textual")
        assert not leaked, leaked
    """)


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
