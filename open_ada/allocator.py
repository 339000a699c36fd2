"""The C allocator setting that the inference commands (`encode`, `serve`, `bench`, `evaluate`) run under.

glibc's malloc serves every block over its mmap threshold (at most 32 MiB by default) with a fresh `mmap` and
returns it to the kernel on `free`. A CPU forward pass over a 16,384-token batch allocates activations of 96 MiB
(16,384 x 1,536 fp32 values) in every block, so each one is page-faulted in anew: on the 2-core benchmark machine
that cost about a tenth of encode's time at 512 tokens (A/B runs in README's Speed section). Raising the mmap and trim thresholds to 1 GiB keeps
freed blocks in the heap, where the next batch reuses them. The price: the resident set stays near its peak
instead of shrinking between batches.

It is the same as starting Python with `MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824`,
which library users (`AutoModel.from_pretrained(...).encode(...)` in their own process) can do themselves; a
process already started with its own malloc settings (those variables, `GLIBC_TUNABLES`, or another allocator
through `LD_PRELOAD`) is left alone.
"""

from __future__ import annotations

import ctypes
import os

KEEP_FREED_BYTES = 1 << 30
# mallopt parameter numbers, from glibc's malloc.h
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
# Environment that means the user chose the allocator or its settings: then it is left alone.
USER_MALLOC_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES", "LD_PRELOAD")


def keep_freed_memory() -> str:
    """Makes glibc keep freed blocks of up to `KEEP_FREED_BYTES` for reuse; returns what the process runs with."""
    user = [name for name in USER_MALLOC_SETTINGS if os.environ.get(name)]
    if user:
        return f"as set by the user ({', '.join(user)})"
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return "system default (not glibc)"
    if not (mallopt(_M_MMAP_THRESHOLD, KEEP_FREED_BYTES) and mallopt(_M_TRIM_THRESHOLD, KEEP_FREED_BYTES)):
        return "glibc default (mallopt refused the thresholds)"
    return f"glibc, mmap and trim thresholds {KEEP_FREED_BYTES >> 20} MiB (freed blocks reused)"
