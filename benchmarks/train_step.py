"""Benchmark: one training step of a zoo model, as ``helpers.training.fit`` takes it.

Prints the operations one step dispatches (PyTorch's profiler counts the ``aten::`` calls of forward,
backward, gradient clipping and the optimizer) and the milliseconds per step (median of timed steps
after warm-up). On a GPU a small model's step is bound by how many operations it launches, not by its
arithmetic, so the first figure predicts the second there.

    python benchmarks/train_step.py                                # notebook 05's final ViT, on the CPU
    python benchmarks/train_step.py --device cuda --batch 256 --steps 50
    python benchmarks/train_step.py --model resnet18 --kwargs '{"stem": "cifar"}' --batch 512

It prints figures; it asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from helpers import models
from helpers.data import resolve_device
from helpers.training import make_optimizer

BEST_VIT = {"patch_size": 4, "embed_dim": 256, "depth": 6, "num_heads": 8, "head_dim": 32, "mlp_dim": 512,
            "head_hidden": 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="vit")
    ap.add_argument("--kwargs", default=None, help="JSON keywords for models.build (default: 05's final ViT)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve_device(args.device)
    kwargs = json.loads(args.kwargs) if args.kwargs else (BEST_VIT if args.model == "vit" else {})
    model = models.build(args.model, **kwargs).to(dev)
    opt = make_optimizer("adamw", model.parameters(), 1e-3, 0.05)
    x = torch.randn(args.batch, 3, 32, 32, device=dev)
    y = torch.randint(0, 10, (args.batch,), device=dev)

    def step():
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            loss = F.cross_entropy(model(x).float(), y, label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(3):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    ops = sum(e.count for e in prof.key_averages() if e.key.startswith("aten::"))
    times = []
    for _ in range(args.steps):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    params = sum(1 for _ in model.parameters())
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"{args.model} {kwargs}: {models.count_parameters(model):,d} parameters in {params} tensors")
    print(f"{ops} aten operations per training step; {1e3 * statistics.median(times):.1f} ms per step of "
          f"{args.batch} images (median of {args.steps}, {name}, torch {torch.__version__})")


if __name__ == "__main__":
    main()
