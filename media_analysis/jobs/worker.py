"""Keep the C allocator from handing image buffers back to the kernel after every image.

Decoding allocates a few megabytes per image (a 1200x800 RGB image is 3.8 MB in
Pillow's layout). glibc serves allocations that large with mmap and returns them
with munmap when freed, so the next image page-faults its buffer in again: in
``bench/land.py`` that was about 600 page faults per media and a tenth of a
consumer's CPU. Raising the mmap and trim thresholds lets freed buffers be
reused; the price is a higher, but bounded, resident size (the largest set of
buffers in use at once, in each of a few allocator arenas).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

logger = logging.getLogger(__name__)

# mallopt parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8

MMAP_THRESHOLD = 32 * 1024 * 1024  # the largest glibc accepts on 64-bit
TRIM_THRESHOLD = 256 * 1024 * 1024
TOP_PAD = 16 * 1024 * 1024
# glibc gives threads up to 8 arenas per core, and each would keep its own freed
# buffers: a few arenas keep the retained memory bounded whatever the run length.
ARENA_MAX = 4

_tuned = False


def keep_freed_memory() -> bool:
    """Apply the thresholds once per process; False where the C library is not glibc."""
    global _tuned
    if _tuned:
        return True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    applied = all(
        mallopt(parameter, value) == 1
        for parameter, value in (
            (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
            (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
            (_M_TOP_PAD, TOP_PAD),
            (_M_ARENA_MAX, ARENA_MAX),
        )
    )
    if not applied:
        logger.warning("could not tune the C allocator (mallopt refused a setting)")
    _tuned = applied
    return applied
