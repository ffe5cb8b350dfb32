"""Rich renderables that the headless commands print and the screens show.

This room imports rich and the engine, never Textual: `qlora-tutor inspect`, `doctor`, `runs`
and `train` draw through it without loading the UI toolkit.
"""
