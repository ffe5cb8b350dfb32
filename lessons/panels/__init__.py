"""The panels lessons embed, each named in a lesson's Markdown as `module.path:ClassName`."""

from __future__ import annotations

import importlib


def resolve_panel(ref: str) -> type:
    """The panel class a lesson names; raises what importing it raises, or AttributeError."""
    module_name, _, class_name = ref.partition(":")
    return getattr(importlib.import_module(module_name), class_name)
