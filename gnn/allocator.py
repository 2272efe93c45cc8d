"""Keep freed memory in the process during training, instead of handing it back every step.

glibc's malloc serves a large request (128 KiB and up, a threshold that adapts to at most
32 MiB) with a fresh ``mmap`` and returns it on ``free``, and it trims the heap's free top
back to the system. A training step allocates and frees the same tens of megabytes of
temporaries (propagated layers, gradients, views) every step, so each step pays a page
fault per 4 KiB it touches again. :func:`keep_freed_memory` raises both thresholds, as
PyTorch's CPU tuning guide does by swapping in jemalloc or tcmalloc, so the step reuses its
memory. On LastFM, alternating fresh processes with and without it, it cut a step of LightGCN
and of the social model by about 15-20% (2 threads; a noisy shared VM). The process then keeps
its peak heap until it exits; set
``SOCIALREC_KEEP_FREED_MEMORY=0`` to leave glibc's defaults alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Mapping
from typing import Final

#: ``mallopt`` parameters (glibc's ``malloc.h``).
_M_TRIM_THRESHOLD: Final[int] = -1
_M_MMAP_THRESHOLD: Final[int] = -3

#: Both thresholds are raised to this many bytes.
KEEP_BYTES: Final[int] = 1 << 30

#: Set to ``0`` to leave the allocator alone.
SWITCH: Final[str] = "SOCIALREC_KEEP_FREED_MEMORY"

#: Environment variables through which a user already tunes glibc's malloc.
_USER_SETTINGS: Final[tuple[str, ...]] = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "GLIBC_TUNABLES",
    "LD_PRELOAD",  # e.g. jemalloc or tcmalloc
)


def keep_freed_memory(environ: Mapping[str, str] = os.environ) -> bool:
    """Raise glibc's mmap and trim thresholds to :data:`KEEP_BYTES` for this process.

    Does nothing where the C library is not glibc (no ``mallopt``), when ``environ`` sets
    :data:`SWITCH` to ``0``, or when it sets one of the user's own allocator settings
    (``MALLOC_*_``, ``GLIBC_TUNABLES``, ``LD_PRELOAD``): those win.

    Returns:
        Whether both thresholds were raised.
    """
    if environ.get(SWITCH) == "0" or any(name in environ for name in _USER_SETTINGS):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt, nor macOS)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(param, KEEP_BYTES) == 1 for param in (_M_MMAP_THRESHOLD, _M_TRIM_THRESHOLD))
