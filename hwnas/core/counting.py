"""Parameter and FLOP counts of a network.

FLOPs are counted with fvcore, which counts one per multiply-add of convolutions and linear
layers: the convention DARTS and FBNet report ("multiply-adds").
"""

from __future__ import annotations

import logging
import warnings
from typing import Tuple

import torch
from torch import nn

AUX_PREFIX = "aux_head."


def fvcore_nn():
    """``fvcore.nn``, imported without the deprecation warnings of torch that its import trips
    (``torch.jit.script``): noise to a user, about code that is not theirs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import fvcore.nn

    return fvcore.nn


def count_params(model: nn.Module, include_aux: bool = False) -> int:
    """Number of parameters; DARTS' auxiliary head is left out unless asked for (as in the paper)."""
    return sum(p.numel() for name, p in model.named_parameters() if include_aux or not name.startswith(AUX_PREFIX))


def count_flops(model: nn.Module, input_shape: Tuple[int, ...]) -> int:
    """Multiply-adds of one forward pass in eval mode for an input of ``input_shape`` (batch 1)."""
    FlopCountAnalysis = fvcore_nn().FlopCountAnalysis

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fvcore's tracer trips torch's deprecation warnings
            analysis = FlopCountAnalysis(model, torch.zeros(1, *input_shape))
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            # fvcore logs through its own logger; keep its per-op chatter out of user output.
            logging.getLogger("fvcore.nn.jit_analysis").setLevel(logging.ERROR)
            return int(analysis.total())
    finally:
        model.train(was_training)
