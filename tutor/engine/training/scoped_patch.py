"""A library's monkey patch kept to the one model it was applied to.

Liger patches transformers' modeling modules, not only the model it is given: RoPE is the
module-level function `apply_rotary_pos_emb`, which every attention layer of that type calls,
and RMSNorm and the MLP are replaced as classes for models built later (liger-kernel's
`apply_liger_kernel_to_llama(model=...)`). In a lab job's own process that is harmless; in one
process that trains and then builds or runs another model (the test suite, a benchmark) the
next model takes Liger's Triton kernels, on CPU tensors too. So the module globals are put
back as soon as the patch is applied, and the patched model's own modules put the patched
names in for the length of each call. A global name is looked up in the module that defines
the code using it, so it is the model's modules whose classes come from a patched module
(for Llama: attention, MLP, norms, layers) that do this. Not the decoder layers alone: under
gradient checkpointing transformers 5.24 recomputes a layer by calling its class's forward,
past any per-instance wrapper, while the layer's submodules are still called as modules.
"""

from __future__ import annotations

import functools
import sys
from contextlib import contextmanager

_ABSENT = object()


@contextmanager
def undone(module_prefix: str):
    """Run a patch, then put back the globals it changed in the loaded modules named
    `module_prefix...`; yields a dict, filled on exit with {module: {name: patched value}}."""
    modules = [module for name, module in list(sys.modules.items())
               if module is not None and (name == module_prefix or name.startswith(module_prefix + "."))]
    before = {module: dict(vars(module)) for module in modules}
    changes: dict = {}
    try:
        yield changes
    finally:
        for module, saved in before.items():
            patched = {name: value for name, value in vars(module).items()
                       if not name.startswith("__") and saved.get(name, _ABSENT) is not value}
            if patched:
                changes[module] = patched
                _put(module, {name: saved.get(name, _ABSENT) for name in patched})


def within_calls(model, changes: dict) -> int:
    """Each of `model`'s modules whose class is defined in a changed module runs its forward
    with `changes` in place and puts back what was there; returns how many modules do."""
    patched_modules = {module.__name__ for module in changes}
    wrapped = [module for module in model.modules() if type(module).__module__ in patched_modules]
    for module in wrapped:
        module.forward = _patched_while_running(module.forward, changes)
    return len(wrapped)


def _patched_while_running(forward, changes: dict):
    @functools.wraps(forward)
    def forward_with_patch(*args, **kwargs):
        outside = {module: {name: vars(module).get(name, _ABSENT) for name in names} for module, names in changes.items()}
        for module, names in changes.items():
            _put(module, names)
        try:
            return forward(*args, **kwargs)
        finally:
            for module, names in outside.items():
                _put(module, names)

    return forward_with_patch


def _put(module, values: dict) -> None:
    for name, value in values.items():
        if value is _ABSENT:
            delattr(module, name)
        else:
            setattr(module, name, value)
