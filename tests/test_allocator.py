"""The inference commands keep freed memory for reuse (open_ada/allocator.py)."""

import os
import platform
import subprocess
import sys

import pytest

from conftest import ROOT
from open_ada.allocator import KEEP_FREED_BYTES, USER_MALLOC_SETTINGS, keep_freed_memory, share_one_arena

# Page faults of activation-like 64 MiB tensors, each allocated anew as the previous one is freed (the first two,
# which find nothing freed yet, are not counted).
PROBE = """
import resource, sys, torch
from open_ada.allocator import keep_freed_memory
print(keep_freed_memory() if sys.argv[1] == "keep" else "default")
x = torch.ones(16 << 20)
for i in range(10):
    if i == 2:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    y = torch.nn.functional.gelu(x * 2)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""
glibc_only = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc" or any(os.environ.get(k) for k in USER_MALLOC_SETTINGS),
    reason="glibc malloc with its default settings only",
)


def probe(mode: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k not in USER_MALLOC_SETTINGS}
    result = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120, check=True)  # fmt: skip
    setting, faults = result.stdout.strip().splitlines()[-2:]
    return setting, int(faults)


@glibc_only
def test_freed_activation_sized_blocks_are_reused_instead_of_faulted_in_again():
    setting, kept = probe("keep")
    _, default = probe("default")
    assert setting.startswith("glibc, mmap and trim thresholds") and f"{KEEP_FREED_BYTES >> 20} MiB" in setting
    assert default >= 8 * 2 * (64 << 20) // 4096 * 0.9  # by default every new 64 MiB block is mapped and faulted in
    assert kept < 0.75 * default, f"{kept} page faults kept vs {default} default: freed blocks were not reused"


def test_a_users_own_malloc_settings_are_left_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert keep_freed_memory() == "as set by the user (MALLOC_MMAP_THRESHOLD_)"


# What a server thread frees stays resident under the raised thresholds until `release_freed_memory` returns it.
RELEASE_PROBE = """
import os, threading
from open_ada.allocator import keep_freed_memory, release_freed_memory, share_one_arena
keep_freed_memory()
print(share_one_arena())


def resident_mib():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20


def request():  # 200 MiB of request-sized blocks, written, then freed, in a thread like serve's
    blocks = [b"x" * (1 << 20) for _ in range(200)]
    del blocks


thread = threading.Thread(target=request)
thread.start()
thread.join()
held = resident_mib()
release_freed_memory()
print(held - resident_mib())
"""


@glibc_only
def test_memory_freed_by_a_thread_is_returned_on_release():
    env = {k: v for k, v in os.environ.items() if k not in (*USER_MALLOC_SETTINGS, "MALLOC_ARENA_MAX")}
    result = subprocess.run([sys.executable, "-c", RELEASE_PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120, check=True)  # fmt: skip
    shared, released = result.stdout.strip().splitlines()[-2:]
    assert shared == "True" and int(released) >= 150, f"{released} MiB of 200 returned"


def test_share_one_arena_leaves_a_users_choice_alone(monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert share_one_arena() is False
