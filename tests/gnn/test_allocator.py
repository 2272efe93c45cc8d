"""gnn.allocator: glibc's thresholds are raised unless the user tunes the allocator."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from gnn.allocator import SWITCH, keep_freed_memory

#: Run in a fresh interpreter (this one may have trained already): bytes glibc maps for a
#: 48 MiB block before and after keep_freed_memory().
PROBE = """
import ctypes, ctypes.util
from gnn.allocator import SWITCH, keep_freed_memory
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in "abcdefghij"]  # hblkhd is "e"
libc.mallinfo2.restype = MallInfo2
def mapped_while_holding(size):
    block = libc.malloc(size)
    mapped = libc.mallinfo2().e
    libc.free(block)
    return mapped
size = 48 << 20  # above glibc's largest adaptive mmap threshold (32 MiB)
base = libc.mallinfo2().e
print(mapped_while_holding(size) - base, keep_freed_memory(), mapped_while_holding(size) - base)
"""


@pytest.mark.parametrize(
    "setting",
    ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES", "LD_PRELOAD"],
)
def test_a_users_allocator_setting_wins(setting: str) -> None:
    assert keep_freed_memory({setting: "x"}) is False


def test_the_switch_turns_it_off() -> None:
    assert keep_freed_memory({SWITCH: "0"}) is False


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's",
)
def test_large_blocks_come_from_the_heap_after_it_on_glibc() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_"))}
    env.pop("LD_PRELOAD", None)
    env.pop(SWITCH, None)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    mapped_before, applied, mapped_after = out.stdout.split()
    assert int(mapped_before) >= 48 << 20  # the block had its own mapping
    assert applied == "True"
    assert int(mapped_after) < 48 << 20  # now it comes from the heap
