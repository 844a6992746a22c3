"""Set up a process that runs analyses: the consumer start-up hook, and what it tunes.

``tune_process`` is called once per worker by the Huey start-up hook in
media_analysis.tasks (and by commands that analyse in their own process). The
library code never tunes the process it is imported into.

* The C allocator (when ``MEDIA_ANALYSIS_KEEP_FREED_MEMORY``): decoding
  allocates a few megabytes per image, which glibc serves with mmap and hands
  back to the kernel when freed, so the next image page-faults its buffer in
  again. Raising the mmap and trim thresholds lets freed buffers be reused, for
  a higher but bounded resident size.
* The free pages the arenas keep (``release_freed_memory``, called by the
  pipeline as chunks complete): glibc trims an arena only at its top.
* BLAS: images are analysed on several threads at once and numpy makes small
  matrix products; OpenBLAS's own thread pool would fight the analysis threads for
  the cores, so each caller keeps to one BLAS thread.
* The compiled k-means (numba) is loaded at start, from the on-disk cache that the
  settings point at, or compiled there the first time on a machine.

The measurements behind each are in docs/benchmarks/land.md ("Process tuning").
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

from django.conf import settings

from media_analysis.engine.image.colours import warm_up as warm_up_colours

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
# glibc's own MALLOC_ARENA_MAX, when the process's environment sets it, is left to decide.
ARENA_MAX = 4

_tuned = False
_libc: ctypes.CDLL | None = None
_libc_loaded = False


def allocator_parameters() -> list[tuple[int, int]]:
    """The mallopt calls to make: the thresholds, and the arenas unless MALLOC_ARENA_MAX is set."""
    parameters = [
        (_M_MMAP_THRESHOLD, MMAP_THRESHOLD),
        (_M_TRIM_THRESHOLD, TRIM_THRESHOLD),
        (_M_TOP_PAD, TOP_PAD),
    ]
    if not os.environ.get("MALLOC_ARENA_MAX"):
        parameters.append((_M_ARENA_MAX, ARENA_MAX))
    return parameters


def _c_library() -> ctypes.CDLL | None:
    """The process's C library, loaded once; None where it cannot be."""
    global _libc, _libc_loaded
    if not _libc_loaded:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        except OSError:
            _libc = None
        _libc_loaded = True
    return _libc


def keep_freed_memory() -> bool:
    """Apply the thresholds once per process; False where the C library is not glibc."""
    global _tuned
    if _tuned:
        return True
    libc = _c_library()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    applied = all(mallopt(parameter, value) == 1 for parameter, value in allocator_parameters())
    if not applied:
        logger.warning("could not tune the C allocator (mallopt refused a setting)")
    _tuned = applied
    return applied


def release_freed_memory() -> bool:
    """Hand the free pages of every arena back to the kernel (glibc's ``malloc_trim``); False where there is none.

    Freed bodies and decoding buffers leave free pages all through the arenas, not only at their top, which is all
    glibc trims by itself; with hundreds of downloads allocating at once, the free pages a long run holds on to grow
    with its length. Trimming from time to time keeps a consumer's resident size that of its work in flight.
    """
    trim = getattr(_c_library(), "malloc_trim", None)
    if trim is None:
        return False
    trim.argtypes = (ctypes.c_size_t,)
    trim.restype = ctypes.c_int
    trim(0)
    return True


def limit_blas_threads() -> None:
    """One BLAS thread per caller, for the rest of the process's life."""
    # threadpoolctl only reaches libraries already loaded: load numpy's BLAS, the one the analysis calls.
    import numpy  # noqa: F401
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def tune_process() -> None:
    """Prepare this process to run analyses: BLAS limits, the allocator when the settings ask, the compiled k-means."""
    limit_blas_threads()
    if settings.MEDIA_ANALYSIS_KEEP_FREED_MEMORY:
        keep_freed_memory()
    # Loaded now rather than by the first image (compiled, the first time on a machine).
    warm_up_colours()
