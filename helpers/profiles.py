"""Run profiles: one switch that sets every notebook's defaults.

A notebook's first code cell (tagged ``parameters``) holds its knobs. Each knob
that is left at ``None`` takes the value of the chosen profile:

* ``smoke``: seconds on a laptop CPU, on small generated data. It checks that
  everything runs; its numbers are not results.
* ``quick``: the real data, smaller: fewer images, epochs and runs, so that each
  notebook takes at most about 10 minutes on a 2-core laptop CPU with bfloat16 (03-05
  took 15 to 36 minutes in float32 on one without it: README). Its numbers are
  real, and lower than the full run's.
* ``full``: the real experiment on the real data.

Explicit values always win over the profile. The profile itself, when the
notebook leaves it at ``None``, comes from the environment variable
``COURSE_PROFILE`` (the test suite sets it to ``smoke``), else ``full``.
"""
from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

PROFILES = ("smoke", "quick", "full")
ENV_VAR = "COURSE_PROFILE"
REPO_ROOT = Path(__file__).resolve().parents[1]


def profile_name(profile: str | None = None) -> str:
    """The profile to use: ``profile`` if given, else ``$COURSE_PROFILE``, else ``full``."""
    name = profile if profile is not None else os.environ.get(ENV_VAR) or "full"
    if name not in PROFILES:
        raise ValueError(
            f"unknown profile {name!r}: choose one of {', '.join(PROFILES)}"
            + (f" (it came from ${ENV_VAR})" if profile is None else "")
        )
    return name


def resolve(profile: str | None, defaults: dict[str, dict], **explicit) -> SimpleNamespace:
    """Merge a profile's defaults with the values a user set explicitly.

    ``defaults`` maps each profile name to a dict of knob values. A keyword in
    ``explicit`` whose value is not ``None`` wins; ``None`` means "use the
    profile's default". Knobs that only one profile names are an error, so a
    typo cannot silently fall back to a default.

    >>> cfg = resolve("smoke", {"smoke": {"epochs": 1}, "full": {"epochs": 30}}, epochs=None)
    >>> cfg.profile, cfg.epochs
    ('smoke', 1)
    """
    name = profile_name(profile)
    missing = [p for p in PROFILES if p not in defaults]
    if missing:
        raise ValueError(f"defaults name no values for profile(s) {missing}")
    keys = set(defaults[PROFILES[0]])
    for p in PROFILES[1:]:
        if set(defaults[p]) != keys:
            raise ValueError(
                f"profiles disagree on their knobs: {sorted(keys ^ set(defaults[p]))}"
            )
    unknown = sorted(set(explicit) - keys)
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; known: {sorted(keys)}")
    values = dict(defaults[name])
    values.update({k: v for k, v in explicit.items() if v is not None})
    return SimpleNamespace(profile=name, **values)


# Wall time of each notebook's full profile on a 2-core x86 CPU, in hours (README, "What a full run
# costs"): measured for 00-02 (01: 338 s alone, 2026-12-08), 03 (6,322 s in one call), 04 (7,279 s of training, all its runs counted), 05
# (the training times its runs recorded, 2026-12-07, bf16: the study runs 1,515 s, report B's ViT 4,410 s,
# the final ViT about 223 s an epoch for 40 epochs), 06 (7,888 s in one call) and 07 (2.9 h from the
# durations its three studies recorded); estimated for 09 from 3,940 s measured before its Lite0 fine-tune
# ran on a CPU too, plus 5 Lite0 epochs (1,343 s for one in float32, less in bfloat16); 08 only evaluates
# once 02-05 and 07 have run.
FULL_CPU_HOURS = {"00_data": 0.01, "01_gradient_descent": 0.1, "02_mlp": 1.0, "03_cnn": 1.8, "04_resnet": 2.2,
                  "05_vit": 4.2, "06_augmentation_regularization": 2, "07_hyperparameter_search": 3,
                  "08_evaluation": 0.1, "09_transfer_learning": 2.5}
# Those of the notebooks above measured with bfloat16 mixed precision on a CPU with AVX512-BF16. Without
# it, one training step of their large models took 2.0x (ResNet-9), 3.7x (RN-4) and 4.5x (the final ViT:
# 2.67 s against 0.59 s, batch 128, 2026-12-08) as long on 2-core AMD EPYCs.
BF16_MEASURED = {"03_cnn", "04_resnet", "05_vit", "09_transfer_learning"}


def announce(cfg: SimpleNamespace, device, notebook: str, amp: bool | None = None):
    """Print the ``DEVICE:`` line; on a CPU under the full profile, what that costs and the quicker profiles.

    ``device``: a ``torch.device`` or a name (``"auto"`` resolves as ``devices.resolve_device``);
    ``notebook``: the notebook's name, e.g. ``"05_vit"``. Returns the resolved device.
    """
    from .devices import bf16_pays, device_label, resolve_device  # here: the profile switch itself needs no PyTorch

    device = resolve_device(device)
    what = device_label(device)
    if amp is not None:
        what += f", bfloat16 mixed precision {'on' if amp else 'off'}"
    print(f"DEVICE: {what}")
    hours = FULL_CPU_HOURS.get(notebook)
    if cfg.profile == "full" and device.type == "cpu" and hours and hours >= 0.25:
        slower, quick_slower = "", ""
        if notebook in BF16_MEASURED and not (bf16_pays(device) if amp is None else amp):
            slower = (" with bfloat16 (AVX512-BF16); without it, as here, its large models train two to five "
                      "times as long (the estimate below times this machine)")
            quick_slower = " (up to about 40 without bfloat16)"
        print(f"NOTE: the full profile of this notebook takes about {hours:g} h on a 2-core CPU{slower}. "
              f"profile='quick' runs it on the real data in at most about 10 minutes{quick_slower}, "
              f"profile='smoke' in seconds on generated data.")
    return device


def gpu_only(value, explicit, cfg: SimpleNamespace, device, cpu=0):
    """``value`` (a number of epochs, or any setting) where a GPU runs the full profile, ``cpu`` on a
    CPU under it (0: the run is left out; or a cheaper setting, e.g. fewer images).

    For runs that take a GPU minutes and a CPU hours; ``explicit``, the notebook's own parameter, set
    to anything but ``None`` runs ``value`` anyway, and the smoke and quick profiles always run it.
    """
    if explicit is not None or cfg.profile != "full" or getattr(device, "type", device) == "cuda":
        return value
    return cpu


def run_dir(profile: str) -> Path:
    """Where a profile's checkpoints, results and figures go: ``runs/<profile>/``.

    ``$COURSE_RUN_DIR`` overrides the folder (the runner and the tests set it).
    """
    base = os.environ.get("COURSE_RUN_DIR")
    path = Path(base) if base else REPO_ROOT / "runs" / profile_name(profile)
    path.mkdir(parents=True, exist_ok=True)
    return path
