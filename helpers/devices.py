"""Which device trains, and what pays off on it: channels-last memory, bfloat16 mixed precision.

    resolve_device("auto")  -> cuda, then mps, then cpu
    device_label("auto")    -> that device in words, e.g. "cpu (AMD EPYC 9B14, 2 threads)"
    channels_last_pays(dev) -> whether convolutions run faster in NHWC memory there
    bf16_pays(dev)          -> whether bf16 autocast speeds up training there (GPU, or a CPU with AVX512-BF16/AMX)
"""
from __future__ import annotations

import platform
from pathlib import Path

import torch


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def device_label(device: str | torch.device | None = None, threads: int | None = None) -> str:
    """The device a notebook run with ``device`` (None: its default, "auto") trains on, in words;
    ``threads``: the CPU threads each kernel uses, when not this process's own count."""
    dev = resolve_device(device or "auto")
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    if dev.type == "cpu":
        try:     # Linux names the processor here; platform.processor() is empty there
            names = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                     if ln.startswith("model name")]
        except OSError:
            names = []
        return f"cpu ({names[0] if names else platform.machine()}, {threads or torch.get_num_threads()} threads)"
    return dev.type


def channels_last_pays(device: torch.device) -> bool:
    """Whether convolutions run faster on ``device`` with channels-last (NHWC) memory.

    True on CUDA (tensor cores want it) and on the CPU: one training step of the zoo's
    convolutional nets on a 2-core x86 CPU, batch 256, took 1.04x (ResNet18) to 1.65x
    (RR-4) less time, and networks without convolutions were unchanged (1.00x). False on
    Apple's MPS, where it was not measured.
    """
    return device.type in ("cuda", "cpu")


def bf16_pays(device: torch.device, cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether bfloat16 mixed precision (``fit(amp=True)``) speeds up training on ``device``.

    True on CUDA GPUs with bf16 support, and on x86 CPUs whose flags (``/proc/cpuinfo``) name
    native bf16 arithmetic (``avx512_bf16`` or ``amx_bf16``): one training step of ResNet-9,
    RN-4 and ResNet-18 (CIFAR stem) took 2.0x, 3.7x and 1.9x less time with it on a 2-core AMD
    EPYC with ``avx512_bf16``. Elsewhere the CPU would emulate bf16, so False (as on MPS, where
    it was not measured). The numbers differ slightly from float32's, so a run records it.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        with open(cpuinfo) as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
