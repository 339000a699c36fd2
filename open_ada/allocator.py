"""The C allocator setting that the inference commands (`encode`, `serve`, `bench`, `evaluate`) run under, and the
release of freed memory that a server makes when it goes idle.

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
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
# Environment that means the user chose the allocator or its settings: then it is left alone.
USER_MALLOC_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES", "LD_PRELOAD")


# What the process runs with, as `keep_freed_memory` left it (the benchmark records it).
setting = "system default"


def keep_freed_memory() -> str:
    """Makes glibc keep freed blocks of up to `KEEP_FREED_BYTES` for reuse; returns (and records in `setting`) what
    the process runs with."""
    global setting
    setting = _keep_freed_memory()
    return setting


def _keep_freed_memory() -> str:
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


def share_one_arena() -> bool:
    """Makes threads that start allocating from now on use glibc's main arena; whether it took effect.

    `release_freed_memory` can return every free page of the main arena, but not the free top of a thread's own
    arena, which with the raised trim threshold keeps whatever a thread once held (measured: a 10 MB string parsed
    in `serve`'s request thread stayed resident). A server that handles requests in threads calls this before it
    starts them. Left alone when the user chose the allocator or its settings, like `keep_freed_memory`.
    """
    if any(os.environ.get(name) for name in (*USER_MALLOC_SETTINGS, "MALLOC_ARENA_MAX")):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_ARENA_MAX, 1))


def release_freed_memory() -> bool:
    """Returns the free memory of every malloc arena to the system (glibc's `malloc_trim(0)`); whether any went.

    The thresholds above keep freed blocks for the next batch, so a long-running process stays near its peak. A
    server calls this once it has gone idle, so one large (or hostile) request does not stay resident for good;
    under load it is not called, and batches keep reusing their memory.
    """
    try:
        malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return False
    return bool(malloc_trim(0))
