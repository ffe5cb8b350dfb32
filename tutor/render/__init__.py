"""Rich renderables shared by the headless commands and the screens and lesson panels.

This room imports rich and the engine, never Textual: `qlora-tutor inspect`, `doctor`, `runs`
and `train` draw through it without loading the UI toolkit.
"""
