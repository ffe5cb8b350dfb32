"""qlora-tutor: learn QLoRA in the terminal, then run it for real."""

__version__ = "0.1.0"
