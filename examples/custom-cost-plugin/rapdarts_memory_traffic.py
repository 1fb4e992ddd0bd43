"""A third-party rapdarts cost provider: ``memory_traffic``, bytes an op reads and writes.

On CPUs and edge devices many DARTS ops (depthwise convs, pools, adds) are limited by memory
bandwidth rather than arithmetic, so bytes moved is a useful companion to flops. Model: one read
of the input activation, one write of the output activation, one read of the weights, at the
spec's dtype size. (Intermediate tensors inside an op, e.g. between the two halves of a
separable conv, are ignored: a first-order model.)
"""

from __future__ import annotations

import torch

from rapdarts.costs import CostProvider, OpSpec, build_module
from rapdarts.plugins import hookimpl

__version__ = "0.1.0"


def memory_traffic(spec: OpSpec) -> float:
    if spec.op == "none":
        return 0.0
    itemsize = torch.empty((), dtype=getattr(torch, spec.dtype)).element_size()
    height, width = spec.output_size
    inputs = spec.batch * spec.C_in * spec.height * spec.width
    outputs = spec.batch * spec.C_out * height * width
    weights = sum(p.numel() for p in build_module(spec).parameters())
    return float((inputs + outputs + weights) * itemsize)


@hookimpl
def rapdarts_cost_providers():
    return [CostProvider("memory_traffic", "bytes", "bytes read and written: input + output activations + weights",
                         memory_traffic, version=__version__)]
