"""What the machine's hardware offers the training and teacher code."""

from __future__ import annotations

from pathlib import Path

import torch


def native_bf16() -> bool:
    """True on a GPU with bf16 or a CPU with AVX-512 BF16 / AMX (Linux: the flags in /proc/cpuinfo)."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
