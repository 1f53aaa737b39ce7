"""Shared code of the course notebooks: data, models, training, evaluation and plots.

Each idea lives in one module named after it (``helpers.data``, ``helpers.training``, ...).

Importing ``helpers`` flushes subnormal floats to zero on the CPU. A dying network (notebook 02's
large MLP, under Adam with an L2 penalty) drives half its weights below 1.2e-38, where the CPU
computes about 12x slower (measured: 69 against 823 ms per training step). The switch must come
before torch starts its worker threads, which copy it when they are created: that is why it lives
here, at import, and not in ``fit``. It costs a healthy network nothing.
"""
import torch as _torch

_torch.set_flush_denormal(True)
