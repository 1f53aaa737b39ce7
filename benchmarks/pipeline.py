"""Benchmark: samples per second of one training epoch's batches with flip + pad-and-crop.

Compares ``helpers.data.Batches`` (the whole set as one uint8 tensor, augmented per batch with
tensor operations) with the classic torchvision pipeline (a Dataset returning PIL images,
RandomHorizontalFlip + RandomCrop(32, padding=4) + ToTensor + Normalize per sample, batched by a
DataLoader) with 0 and 2 worker processes. Same data, same process, same run.

    python benchmarks/pipeline.py --data-dir data          # CIFAR-10 train split (40,000 images)

It prints figures; it asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch
import torchvision.transforms as T
from PIL import Image

from helpers import augment, data


class PILDataset(torch.utils.data.Dataset):
    """What course code usually does: one PIL image per sample, transformed on its own."""

    def __init__(self, imageset: data.ImageSet, transform):
        self.images = imageset.images.permute(0, 2, 3, 1).numpy()   # [N, H, W, C] like torchvision's CIFAR10
        self.labels = imageset.labels.tolist()
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def epoch_rate(batches) -> float:
    """Samples per second of one pass over ``batches`` (worker start-up included)."""
    t0 = time.perf_counter()
    n = 0
    for x, y in batches:
        n += len(y)
    return n / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default="data", help="folder with cifar-10-batches-py/")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--device", default="cpu", help="where Batches keeps the data (cpu, cuda, auto)")
    ap.add_argument("--repeats", type=int, default=2, help="epochs timed per pipeline (best is kept)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    src = data.find_data("full", args.data_dir, download=False)
    train, _, _ = data.splits("cifar10", src.root, seed=0)
    mean, std = train.channel_stats()
    print(f"{len(train)} training images, batch {args.batch_size}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}, {platform.processor() or platform.machine()}")

    ours = data.Batches(train, args.batch_size, shuffle=True, augment=augment.standard(4), device=args.device)
    rates = {f"Batches ({ours.device.type})": max(epoch_rate(ours) for _ in range(args.repeats))}
    tf = T.Compose([T.RandomHorizontalFlip(), T.RandomCrop(32, padding=4), T.ToTensor(),
                    T.Normalize(mean.tolist(), std.tolist())])
    for workers in (0, 2):
        loader = torch.utils.data.DataLoader(PILDataset(train, tf), batch_size=args.batch_size,
                                             shuffle=True, num_workers=workers)
        rates[f"DataLoader, {workers} workers"] = max(epoch_rate(loader) for _ in range(args.repeats))

    base = rates[next(iter(rates))]
    print(f"\n{'pipeline':28s} {'samples/s':>12s} {'Batches is':>12s}")
    for name, r in rates.items():
        print(f"{name:28s} {r:12,.0f} {base / r:11.1f}x")


if __name__ == "__main__":
    main()
