"""One autograd function per 4-bit linear layer, LoRA included: fewer Python calls a step.

A QLoRA step on a GPU is bound by the host (tutor.engine.training.speed): for each LoRA-wrapped 4-bit
layer, peft and bitsandbytes run about ten module calls, dtype checks, a defensive clone, a
cast of the input to the adapter's float32, and a Python autograd function for the 4-bit
matmul. Here the whole layer is one `torch.autograd.Function` that launches the same kinds of
kernels (dequantize, matmul, dropout) in bf16, with the LoRA scale and the residual add
folded into one `addmm`. The adapter's float32 weights stay the master copy, as under the
notebook's autocast, which also multiplies them in bf16.

The math, for `y = x W^T + s * dropout(x) A^T B^T`, with `h = dropout(x) A^T`:
    dL/dh = s g B,   dL/dB = s g^T h,   dL/dA = (dL/dh)^T dropout(x),
    dL/dx = g W + dropout'(dL/dh A).
Anything else (a second adapter, DoRA, merged or disabled adapters, autocast, an input in
another dtype) takes the library's own forward, unchanged.
"""

from __future__ import annotations

import functools
import inspect
import types

import torch
from bitsandbytes.functional import dequantize_4bit


@functools.cache
def _cuda_kernels():
    """bitsandbytes' CUDA dequantize kernels without its torch.library dispatch, which costs
    more host time than the kernels; None where its layout differs (the public path then)."""
    try:
        from bitsandbytes.backends.cuda.ops import _dequantize_4bit_impl, _dequantize_blockwise_impl
    except (ImportError, AttributeError):
        return None
    expected = {_dequantize_blockwise_impl: ["A", "absmax", "code", "blocksize", "dtype", "out"],
                _dequantize_4bit_impl: ["A", "absmax", "blocksize", "quant_type", "dtype", "out"]}
    if any(list(inspect.signature(kernel).parameters) != names for kernel, names in expected.items()):
        return None  # written for bitsandbytes 0.50's private API; another version, the public path
    return _dequantize_blockwise_impl, _dequantize_4bit_impl


def _dequantized(weight, state, dtype):
    """The 4-bit weight in `dtype`, [out_features, in_features]: `dequantize_4bit`'s kernels."""
    kernels = _cuda_kernels() if _on_current_gpu(weight) else None
    if kernels is None:
        return dequantize_4bit(weight, state).to(dtype)
    blockwise, four_bit = kernels
    absmax = state.absmax
    if state.nested:  # double quantization: the absmax values are themselves 8-bit blocks
        nested = state.state2
        wide = torch.empty(absmax.shape, dtype=torch.float32, device=absmax.device)
        blockwise(absmax, nested.absmax, nested.code, nested.blocksize, torch.float32, wide)
        absmax = wide.add_(state.offset)
    out = torch.empty(state.shape, dtype=dtype, device=weight.device)
    four_bit(weight, absmax, state.blocksize, state.quant_type, dtype, out)
    return out


def _on_current_gpu(tensor) -> bool:
    return tensor.is_cuda and tensor.device.index == torch.cuda.current_device()


def _rows(tensor):
    return tensor.reshape(-1, tensor.shape[-1])


def _base_output(rows, w, bias):
    """rows W^T (+ bias): the frozen layer's output, a fresh tensor the LoRA term adds into."""
    return torch.mm(rows, w.t()) if bias is None else torch.addmm(bias.to(rows.dtype), rows, w.t())


class _LoraNF4(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lora_a, lora_b, bias, weight, state, scaling, dropout_p):
        rows = _rows(x)
        out = _base_output(rows, _dequantized(weight, state, x.dtype), bias)
        a, b = lora_a.to(x.dtype), lora_b.to(x.dtype)
        dropped, mask = torch.native_dropout(rows, dropout_p, True) if dropout_p else (rows, None)
        h = torch.mm(dropped, a.t())
        out.addmm_(h, b.t(), alpha=scaling)
        ctx.save_for_backward(dropped, h, a, b, mask)
        ctx.quant = (weight, state, scaling, dropout_p)
        return out.view(*x.shape[:-1], out.shape[-1])

    @staticmethod
    def backward(ctx, grad):
        dropped, h, a, b, mask = ctx.saved_tensors
        weight, state, scaling, dropout_p = ctx.quant
        g = _rows(grad)
        grad_h = torch.mm(g, b).mul_(scaling)
        grad_b = torch.mm(g.t(), h).mul_(scaling) if ctx.needs_input_grad[2] else None
        grad_a = torch.mm(grad_h.t(), dropped) if ctx.needs_input_grad[1] else None
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.mm(grad_h, a)
            if mask is not None:
                grad_x = torch.ops.aten.native_dropout_backward(grad_x, mask, 1.0 / (1.0 - dropout_p))
            grad_x.addmm_(g, _dequantized(weight, state, grad.dtype))
            grad_x = grad_x.view(grad.shape[:-1] + (grad_x.shape[-1],))
        return grad_x, grad_a, grad_b, None, None, None, None, None


class _NF4(torch.autograd.Function):
    """The frozen 4-bit linear layers without LoRA (an MLP's, when LoRA targets attention)."""

    @staticmethod
    def forward(ctx, x, bias, weight, state):
        out = _base_output(_rows(x), _dequantized(weight, state, x.dtype), bias)
        ctx.quant = (weight, state)
        return out.view(*x.shape[:-1], out.shape[-1])

    @staticmethod
    def backward(ctx, grad):
        weight, state = ctx.quant
        grad_x = torch.mm(_rows(grad), _dequantized(weight, state, grad.dtype))
        return grad_x.view(grad.shape[:-1] + (grad_x.shape[-1],)), None, None, None


def _plain_4bit_ready(layer, x) -> bool:
    state = getattr(layer.weight, "quant_state", None)
    return (state is not None and x.dtype == layer.compute_dtype and x.numel() > 0
            and not getattr(state, "packing_format_for_cpu", False)
            and not torch.is_autocast_enabled(x.device.type)
            and (layer.bias is None or not layer.bias.requires_grad))


def _fast_lora_forward(self, x, *args, **kwargs):
    if args or kwargs or self.disable_adapters or self.merged or self.lora_variant:
        return self._library_forward(x, *args, **kwargs)
    adapters = [name for name in self.active_adapters if name in self.lora_A]
    base = self.base_layer
    if len(adapters) != 1 or not _plain_4bit_ready(base, x):
        return self._library_forward(x, *args, **kwargs)
    name = adapters[0]
    dropout = self.lora_dropout[name]
    p = dropout.p if isinstance(dropout, torch.nn.Dropout) and dropout.training else 0.0
    return _LoraNF4.apply(x, self.lora_A[name].weight, self.lora_B[name].weight, base.bias,
                          base.weight, base.weight.quant_state, self.scaling[name], p)


def _fast_4bit_forward(self, x):
    if not _plain_4bit_ready(self, x) or not self.compute_type_is_set:
        return self._library_forward(x)
    return _NF4.apply(x, self.bias, self.weight, self.weight.quant_state)


def install(model) -> int:
    """Route each 4-bit linear layer of `model` (LoRA-wrapped or not) through the functions
    above; returns how many layers now take the fast path."""
    from bitsandbytes.nn import Linear4bit
    from peft.tuners.lora.bnb import Linear4bit as LoraLinear4bit

    wrapped = {id(module.base_layer) for module in model.modules() if isinstance(module, LoraLinear4bit)}
    count = 0
    for module in model.modules():
        if isinstance(module, LoraLinear4bit):
            fast = _fast_lora_forward
        elif isinstance(module, Linear4bit) and id(module) not in wrapped:
            fast = _fast_4bit_forward
        else:
            continue
        if "_library_forward" not in module.__dict__:
            module._library_forward = module.forward
            module.forward = types.MethodType(fast, module)
        count += 1
    return count
