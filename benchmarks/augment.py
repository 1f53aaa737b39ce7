"""Benchmark: milliseconds per batch for every transform of ``helpers.augment``.

Each transform runs on one uint8 batch of random images (default 512 x 3 x 32 x 32)
on the chosen device; the median and the fastest of several timed runs are printed, after warm-up.

    python benchmarks/augment.py                      # CPU, CIFAR-sized batch
    python benchmarks/augment.py --size 96 --device cuda
    python benchmarks/augment.py --threads 1          # on a busy machine, avoids thread contention

It prints figures; it asserts nothing.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from helpers import augment


def transforms(size: int) -> dict:
    """Every transform of the course, under a short name."""
    return {
        "HorizontalFlip(0.5)": augment.HorizontalFlip(0.5),
        "VerticalFlip(0.5)": augment.VerticalFlip(0.5),
        "PadCrop(4)": augment.PadCrop(4),
        "PadCrop(4, reflect)": augment.PadCrop(4, mode="reflect"),
        "Rotation(10)": augment.Rotation(10),
        "ColorJitter(.2, .2, .2)": augment.ColorJitter(0.2, 0.2, 0.2),
        "ColorJitter(.2, .2, .2, hue=.1)": augment.ColorJitter(0.2, 0.2, 0.2, 0.1),
        "RandomErasing(0.5)": augment.RandomErasing(0.5),
        f"RandomResizedCrop({size})": augment.RandomResizedCrop(size),
        "PatchMask(4, 0.75)": augment.PatchMask(4, 0.75),
        "PatchMask(1, 0.75)": augment.PatchMask(1, 0.75),
        "RandomApply(Rotation(10), 0.5)": augment.RandomApply(augment.Rotation(10), 0.5),
        "flip+crop (standard)": augment.Compose(augment.by_name("flip+crop")),
        "basic": augment.Compose(augment.by_name("basic")),
        "basic+erasing": augment.Compose(augment.by_name("basic+erasing")),
    }


def time_ms(t, x: torch.Tensor, repeats: int) -> tuple[float, float]:
    """Median and fastest milliseconds of ``t(x, generator)`` over ``repeats`` runs, after two warm-up runs."""
    g = torch.Generator(device=x.device).manual_seed(0)
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    times = []
    for i in range(repeats + 2):
        sync()
        t0 = time.perf_counter()
        t(x, g)
        sync()
        if i >= 2:
            times.append(1000 * (time.perf_counter() - t0))
    return statistics.median(times), min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--size", type=int, default=32, help="image side in pixels (32: CIFAR, 96: STL-10)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    x = torch.randint(0, 256, (args.batch_size, 3, args.size, args.size), dtype=torch.uint8,
                      generator=torch.Generator().manual_seed(0)).to(args.device)
    print(f"uint8 batch {list(x.shape)} on {args.device}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print(f"{'transform':34s} {'median ms':>9s} {'min ms':>8s}")
    for name, t in transforms(args.size).items():
        median, fastest = time_ms(t, x, args.repeats)
        print(f"{name:34s} {median:9.2f} {fastest:8.2f}")


if __name__ == "__main__":
    main()
