"""Checks for exercise 6 (lora-linear): shapes, init and scale, then against peft's lora.Linear."""

import copy

import torch
from peft import LoraConfig
from peft.tuners.lora import Linear as PeftLoraLinear

from tutor.engine.checking import expect, expect_equal, first_difference

IN, OUT, R, ALPHA = 24, 16, 4, 8


def _base():
    torch.manual_seed(6)
    return torch.nn.Linear(IN, OUT)


def _pair(learner, dropout=0.0):
    """The learner's layer with a random B, and peft's layer holding the very same weights."""
    ours = learner.LoraLinear(_base(), R, ALPHA, dropout)
    with torch.no_grad():
        ours.lora_B.weight.normal_(generator=torch.Generator().manual_seed(7))
    config = LoraConfig(r=R, lora_alpha=ALPHA, lora_dropout=dropout)
    theirs = PeftLoraLinear(_base(), "default", config=config, r=R, lora_alpha=ALPHA, lora_dropout=dropout)
    with torch.no_grad():
        theirs.lora_A["default"].weight.copy_(ours.lora_A.weight)
        theirs.lora_B["default"].weight.copy_(ours.lora_B.weight)
    return ours, theirs


def _inputs():
    return torch.randn(3, 5, IN, generator=torch.Generator().manual_seed(8))


def check_shapes(learner):
    """lora_A.weight is r x in, lora_B.weight is out x r"""
    layer = learner.LoraLinear(_base(), R, ALPHA)
    shapes = [tuple(layer.lora_A.weight.shape), tuple(layer.lora_B.weight.shape)]
    expect_equal("[lora_A.weight, lora_B.weight] shapes", shapes, [(R, IN), (OUT, R)], {
        "A and B are swapped: A maps in -> r (weight r x in), B maps r -> out (weight out x r)": [(OUT, R), (R, IN)],
        "nn.Linear(a, b).weight is b x a: lora_A = nn.Linear(in, r), lora_B = nn.Linear(r, out)": [(IN, R), (R, OUT)],
    })


def check_initial_update_is_zero(learner):
    """B starts at zero and A does not, so the layer starts equal to its base"""
    layer = learner.LoraLinear(_base(), R, ALPHA)
    expect(bool((layer.lora_B.weight == 0).all()),
           "lora_B.weight is not all zeros: start B at zero so that B A = 0 and training starts from the base model")
    expect(bool((layer.lora_A.weight != 0).any()),
           "lora_A.weight is all zeros: with A and B both zero no gradient reaches either; keep A's random init")
    x = _inputs()
    first_difference("output before training", layer(x), layer.base(x), 1e-6)


def check_trainable(learner):
    """the base is frozen, A and B train"""
    layer = learner.LoraLinear(_base(), R, ALPHA)
    flags = [layer.base.weight.requires_grad, layer.lora_A.weight.requires_grad, layer.lora_B.weight.requires_grad]
    expect_equal("requires_grad of [base.weight, lora_A.weight, lora_B.weight]", flags, [False, True, True], {
        "freeze the base: base.requires_grad_(False)": [True, True, True],
    })


def check_scaling(learner):
    """scaling is alpha / r, as peft's"""
    layer = learner.LoraLinear(_base(), R, ALPHA)
    expect_equal(f"scaling with r={R}, alpha={ALPHA}", float(layer.scaling), ALPHA / R, {
        "you scaled by r / alpha; LoRA scales by alpha / r": R / ALPHA,
        "you scaled by alpha alone; divide by r": float(ALPHA),
    }, tolerance=1e-9)


def check_forward_matches_peft(learner):
    """forward equals peft's lora.Linear with the same weights"""
    ours, theirs = _pair(learner)
    x = _inputs()
    reference = theirs(x)
    first_difference("forward(x)", ours(x), reference, 1e-5, {
        "you scaled by r / alpha; LoRA scales by alpha / r": theirs.base_layer(x) + (reference - theirs.base_layer(x)) * (R / ALPHA) ** 2,
    })


def _dropout_mistakes(theirs, x, seed):
    """What forward gives in training mode when the dropout sits in the wrong place."""
    base, a, b, scaling = theirs.base_layer, theirs.lora_A["default"], theirs.lora_B["default"], theirs.scaling["default"]
    drop = torch.nn.functional.dropout
    with torch.no_grad():
        torch.manual_seed(seed)
        on_output = drop(base(x) + b(a(x)) * scaling, 0.5)
        torch.manual_seed(seed)
        dropped = drop(x, 0.5)
        on_both_paths = base(dropped) + b(a(dropped)) * scaling
        torch.manual_seed(seed)
        after_a = base(x) + b(drop(a(x), 0.5)) * scaling
        nowhere = base(x) + b(a(x)) * scaling
    return {
        "you applied dropout to the layer's output; apply it to the input of lora_A only": on_output,
        "you applied dropout to the base layer's input too; only the LoRA path sees it": on_both_paths,
        "you applied dropout between A and B; it belongs on the input of lora_A": after_a,
        "you never applied the dropout: lora_A(dropout(x))": nowhere,
    }


def check_dropout_on_lora_input(learner):
    """in training mode, dropout hits only the input of the LoRA path, as in peft"""
    ours, theirs = _pair(learner, dropout=0.5)
    ours.train()
    theirs.train()
    x = _inputs()
    torch.manual_seed(9)
    reference = theirs(x)
    torch.manual_seed(9)
    first_difference("forward(x) in training mode, dropout 0.5, same seed as peft", ours(x), reference, 1e-5,
                     _dropout_mistakes(theirs, x, 9))


def check_merge_matches_peft(learner):
    """merge() equals the weight peft's merge() writes into the base layer"""
    ours, theirs = _pair(learner)
    merged = copy.deepcopy(theirs)
    merged.merge()
    expected = merged.base_layer.weight.detach()
    first_difference("merge()", ours.merge().detach(), expected, 1e-6, {
        "you merged B A without the scale alpha / r": theirs.base_layer.weight + theirs.lora_B["default"].weight @ theirs.lora_A["default"].weight,
        "you returned only the update; add the base weight": expected - theirs.base_layer.weight,
    })
