"""A consumer that notes what its memory is made of at its peak: ``python bench/_peak_consumer.py run_huey ...``.

Run from the root of the checkout whose code it runs (``bench/land.py --consumer-command
"bench/_peak_consumer.py run_huey --workers 2 --worker-type thread"``). A thread reads the process's resident
size (``VmRSS``) every ``BENCH_PEAK_INTERVAL`` seconds (default 0.02) and, at every new high, what the download
pipeline holds at that moment: downloads in flight, bodies waiting for or in analysis, the bytes the byte budget
counts (bodies received and the reservations of downloads not yet received), the bytes on disk when the code
keeps large bodies there, and glibc's count of the heap in use and of the free bytes its arenas keep
(``mallinfo2``). The same is noted before the first job (the process's base). The last high is written as JSON
to ``BENCH_PEAK_FILE.<pid>`` (every few seconds and at exit), so that the peak can be split into the base, the
bodies in memory, and the rest (decoded images, the analyses' transient copies, the allocator's free memory).

With ``BENCH_CONSTANT_ANALYSIS=1`` the analysis is the constant one of ``bench/_constant_consumer.py`` (and its
``BENCH_ANALYSIS_SECONDS``).
"""

import atexit
import ctypes
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.getcwd())  # the checkout's code, not this script's
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medianalyse_site.settings")

import django

django.setup()

from django.core.management import execute_from_command_line  # noqa: E402

from media_analysis.jobs import pipeline as pipeline_module  # noqa: E402

_file = os.environ.get("BENCH_PEAK_FILE", "")
_interval = float(os.environ.get("BENCH_PEAK_INTERVAL", "0.02"))
_peak: dict = {"rss_kib": 0}
_base: dict = {"rss_kib": 0}


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks")
    ] + [("keepcost", ctypes.c_size_t)]


_libc: ctypes.CDLL | None
try:
    _libc = ctypes.CDLL("libc.so.6")
    _libc.mallinfo2.restype = _MallInfo2
except (OSError, AttributeError):
    _libc = None


def _heap() -> dict:
    """glibc's view: bytes allocated and in use (arenas and own mappings), and free bytes kept in the arenas."""
    if _libc is None:
        return {}
    info = _libc.mallinfo2()
    return {"heap_in_use": info.uordblks + info.hblkhd, "heap_free": info.fordblks, "heap_mmapped": info.hblkhd}


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _write() -> None:
    if _file and _peak["rss_kib"]:
        with open(f"{_file}.{os.getpid()}", "w") as out:
            out.write(json.dumps({"pid": os.getpid(), "base": _base, **_peak}) + "\n")


def _sample() -> None:
    written = time.monotonic()
    while True:
        time.sleep(_interval)
        rss = _rss_kib()
        running = pipeline_module.current_pipeline()
        if running is None:
            _base["rss_kib"] = rss  # before the first job: the process's base
            _base.update(_heap())
            continue
        if rss > _peak["rss_kib"]:
            stats = running.stats()
            _peak.clear()
            _peak.update(rss_kib=rss, at=time.time(), **stats, **_heap())
        if time.monotonic() - written > 5.0:
            _write()
            written = time.monotonic()


if os.environ.get("BENCH_CONSTANT_ANALYSIS") == "1":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _constant_consumer  # type: ignore[import-not-found]

    _constant_consumer.install()

threading.Thread(target=_sample, name="bench-peak", daemon=True).start()
atexit.register(_write)
execute_from_command_line(["manage.py", *sys.argv[1:]])
