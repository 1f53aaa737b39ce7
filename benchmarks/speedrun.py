"""Speed run: our fast CIFAR-10 recipe (helpers.recipes), N runs, mean ± std test accuracy and time.

    python benchmarks/speedrun.py --data-dir data --runs 10
    python benchmarks/speedrun.py --data-dir data --runs 10 --against ../airbench/airbench94.py

Training time is measured with CUDA events on a GPU and excludes compilation, which the first
(warm-up) run pays and which is reported on its own line. ``--against PATH`` also runs a reference
script (e.g. a local airbench checkout whose loader reads the same CIFAR-10 files) in a subprocess
of the same session, reads its per-run accuracy and time from its printed table, and prints both
and the ratio. Without a GPU the recipe runs on the CPU with fewer epochs on a subset, and says so;
``--per-class 0 --epochs 10`` runs the whole recipe on the CPU (measured: 35 minutes of training a run on 2 cores,
93.85 and 93.88 % for seeds 0 and 1); ``--epochs 12`` gave 94.25, 94.12 and 94.22 %
(mean 94.20 ± 0.07 over seeds 0-2; 43-58 minutes a run, the machine partly shared).
It prints figures; it asserts nothing.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from helpers import data, recipes


def parse_reference(output: str) -> list[tuple[float, float]]:
    """(accuracy, seconds) of each run from a printed table with ``|``-separated columns.

    It looks for a header naming an accuracy column (``tta_val_acc`` preferred, else ``val_acc``
    or ``accuracy``) and a time column (``total_time_seconds``, ``time_seconds`` or ``time``), and
    reads the rows whose epoch column says ``eval`` (or every row if there is no epoch column).
    Rows of a run named ``warmup`` (the run that only triggers compilation) are skipped; a row with
    an empty run cell belongs to the last run named above it.
    """
    runs, cols, current_run = [], None, None
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2:
            continue
        lower = [c.lower() for c in cells]
        acc_name = next((n for n in ("tta_val_acc", "val_acc", "accuracy") if n in lower), None)
        time_name = next((n for n in ("total_time_seconds", "time_seconds", "time") if n in lower), None)
        if acc_name and time_name:
            cols = {k: lower.index(n) if n in lower else None for k, n in
                    (("acc", acc_name), ("time", time_name), ("epoch", "epoch"), ("run", "run"))}
            continue
        if cols is None or len(cells) <= max(c for c in cols.values() if c is not None):
            continue
        if cols["run"] is not None and cells[cols["run"]]:
            current_run = cells[cols["run"]].lower()
        if cols["epoch"] is not None and lower[cols["epoch"]] != "eval" or current_run == "warmup":
            continue
        try:
            runs.append((float(cells[cols["acc"]]), float(cells[cols["time"]])))
        except ValueError:
            continue
    return runs


def describe(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    mean = statistics.fmean(values) * scale
    std = statistics.stdev(values) * scale if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--epochs", type=float, default=None, help="default: 10 on a GPU, 1 on the CPU")
    ap.add_argument("--per-class", type=int, default=1000,
                    help="training images per class on the CPU (default 1000; 0: all 5,000)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the network (CUDA only)")
    ap.add_argument("--against", type=Path, default=None, help="a reference script to run and compare")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds allowed for the reference script")
    args = ap.parse_args(argv)

    src = data.find_data("full", args.data_dir, download=False)
    train, test = data.load("cifar10", src.root, "train"), data.load("cifar10", src.root, "test")
    cuda = torch.cuda.is_available()
    cfg = recipes.RecipeConfig(epochs=args.epochs or (10.0 if cuda else 1.0), compile=args.compile)
    if not cuda:
        if args.per_class:
            train = train.per_class(args.per_class, seed=0)
        print(f"no GPU: running on the CPU with {cfg.epochs:g} epoch(s) on {len(train):,} training images; "
              "these figures say nothing about GPU speed")
    device = torch.device("cuda" if cuda else "cpu")
    name = torch.cuda.get_device_name() if cuda else "CPU"
    print(f"recipe on {name}: {len(train)} training images, {cfg.epochs:g} epochs, batch {cfg.batch_size}")

    model = recipes.FastNet(train.num_classes, cfg.widths, cfg.bn_momentum).to(device)
    if cuda:   # the first run pays for compilation and cuDNN's autotuning; the CPU has neither
        model = model.to(memory_format=torch.channels_last)
        t0 = time.perf_counter()
        warm = recipes.train_recipe(train, test, cfg, seed=1000, device=device, model=model)
        warm_wall = time.perf_counter() - t0
    results = []
    for s in range(args.runs):   # one line per run, so a long CPU benchmark shows its progress
        results.append(recipes.train_recipe(train, test, cfg, seed=s, device=device, model=model))
        r = results[-1]
        print(f"run {s}: test accuracy {100 * r.accuracy:.2f} % (no TTA {100 * r.accuracy_no_tta:.2f} %), "
              f"{r.train_seconds:.2f} s of training", flush=True)
    accs = [r.accuracy for r in results]
    secs = [r.train_seconds for r in results]
    if cuda:
        print(f"warm-up run (compilation included): {warm.train_seconds:.2f} s of training, {warm_wall:.1f} s "
              f"wall; compile overhead about {max(0.0, warm.train_seconds - statistics.median(secs)):.1f} s")
    print(f"ours      : test accuracy {describe(accs, 100)} % (no TTA {describe([r.accuracy_no_tta for r in results], 100)} %), "
          f"training {describe(secs)} s over {len(results)} runs")

    if args.against:
        print(f"running the reference {args.against} ...", flush=True)
        proc = subprocess.run([sys.executable, str(args.against.resolve())], cwd=args.against.resolve().parent,
                              capture_output=True, text=True, timeout=args.timeout)
        ref = parse_reference(proc.stdout)
        if proc.returncode != 0 or not ref:
            print(f"the reference script failed or printed no table (exit {proc.returncode}); its output ends:\n"
                  + (proc.stdout + proc.stderr)[-2000:])
            return 1
        r_acc, r_sec = [a for a, _ in ref], [t for _, t in ref]
        print(f"reference : test accuracy {describe(r_acc, 100)} %, {describe(r_sec)} s over {len(ref)} runs "
              "(as the reference reports its time; airbench's includes its final TTA evaluation)")
        print(f"ratio     : our time / reference time = {statistics.fmean(secs) / statistics.fmean(r_sec):.2f}x, "
              f"accuracy difference {100 * (statistics.fmean(accs) - statistics.fmean(r_acc)):+.2f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
