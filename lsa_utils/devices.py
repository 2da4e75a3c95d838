"""Which torch device a chapter runs on.

``"auto"`` picks CUDA when it is present and CPU otherwise; the environment variable
``LSA_DEVICE`` overrides ``"auto"`` (so ``LSA_DEVICE=cpu make book`` keeps a GPU machine on CPU).
"""

from __future__ import annotations

import os

import torch

from .validation import check_choice

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a usable ``torch.device``.

    Raises ``ValueError`` for an unknown name, or for CUDA asked for on a machine without it.
    """
    if isinstance(device, torch.device):
        device = str(device)
    name = "device"
    if device == "auto":
        device = os.environ.get("LSA_DEVICE", "auto") or "auto"
        name = "LSA_DEVICE"
        if device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    base = device.split(":", 1)[0]
    check_choice(name, base, DEVICE_CHOICES)
    if base == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"{name}={device!r} is not allowed on this machine: torch sees no CUDA GPU; "
            "use 'cpu' or 'auto'"
        )
    return torch.device(device)


def device_description(device: torch.device) -> str:
    """A human-readable name of ``device``, e.g. ``"cuda (NVIDIA H100 80GB HBM3)"``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


DEFAULT_MEMORY_BUDGET = 2 * 1024**3  # bytes a kernel computation may hold at once on CPU
GPU_FREE_MEMORY_SHARE = 0.5  # share of a GPU's free memory a kernel computation may hold


def memory_budget(device: torch.device, requested: int | None = None) -> int:
    """Bytes a kernel computation on ``device`` may hold at once: ``requested`` when given; on
    CUDA, ``GPU_FREE_MEMORY_SHARE`` of the memory free on the device now
    (``torch.cuda.mem_get_info``), so that blocks grow with the GPU; on CPU,
    ``DEFAULT_MEMORY_BUDGET``."""
    if requested is not None:
        if requested <= 0:
            raise ValueError(f"memory_budget={requested!r} is not allowed; give a positive number of bytes")
        return int(requested)
    if device.type == "cuda":  # memory torch's allocator holds but does not use is free to us
        free, _ = torch.cuda.mem_get_info(device)
        free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return max(1, int(GPU_FREE_MEMORY_SHARE * free))
    return DEFAULT_MEMORY_BUDGET


def use_full_float32() -> None:
    """Compute float32 in full float32 on CUDA: no TF32 in matrix products or cuDNN convolutions
    (torch allows TF32 in cuDNN convolutions by default on Ampere and later GPUs, which keeps
    10 bits of mantissa: errors of about 1e-3 relative where float32 gives 1e-7). The chapters
    and the benchmarks call it, so that a GPU run differs from a CPU run only by rounding."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
