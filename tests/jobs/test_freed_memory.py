"""A consumer hands the allocator's free pages back to the kernel as it goes, so a long job does not hold more.

Freed bodies and decoding buffers leave free pages all through glibc's arenas, which glibc trims only at their
top: without ``malloc_trim`` a consumer's resident size grew with the length of its job.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

from media_analysis.jobs import pipeline as pipeline_module
from media_analysis.jobs import service as jobs
from media_analysis.jobs import worker
from media_analysis.jobs.parameters import JobParameters
from media_analysis.models import AnalysisJob, ChunkStatus, JobChunk, JobStatus
from tests.factories import make_expression, make_land, make_media
from tests.support.http_server import Reply

# Run in a process of its own: the allocator's thresholds are the consumer's (the test process's may differ), and
# its resident size is its own. Blocks freed between small live ones are free pages in the middle of the heap,
# which only a trim returns.
_FRAGMENTED_HEAP = textwrap.dedent(
    """
    import json
    from media_analysis.jobs import worker

    def resident_kib():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * 4

    assert worker.keep_freed_memory()
    blocks, pins = [], []
    for n in range(96):
        blocks.append(bytes([n % 251]) * (1 << 20))
        pins.append(bytes([n % 251]) * 700)
    held = resident_kib()
    del blocks
    freed = resident_kib()
    released = worker.release_freed_memory()
    print(json.dumps({"held": held, "freed": freed, "trimmed": resident_kib(), "released": released}))
    """
)


@pytest.mark.slow
def test_releasing_freed_memory_returns_free_pages_from_the_middle_of_the_heap():
    if not sys.platform.startswith("linux"):
        pytest.skip("the resident size is read from /proc")
    run = subprocess.run([sys.executable, "-c", _FRAGMENTED_HEAP], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    import json

    sizes = json.loads(run.stdout)
    if not sizes["released"]:
        pytest.skip("the C library is not glibc: nothing to trim")
    # Freed but kept by the allocator (the thresholds a consumer runs with), then handed back by the trim.
    assert sizes["freed"] - sizes["trimmed"] > 64 * 1024, sizes
    assert sizes["held"] - sizes["freed"] < 32 * 1024, sizes


@pytest.mark.django_db(transaction=True)
def test_the_pipeline_releases_freed_memory_once_a_chunk_is_written(http_server, monkeypatch):
    land = make_land()
    for n in range(3):
        url = http_server.route(f"/trim-{n}.png", Reply(body=_png(n), content_type="image/png"))
        make_media(make_expression(land, depth=0, relevance=1), url=url)
    job = jobs.create_job(land, JobParameters())
    (chunk_id,) = jobs.plan_job(job.pk, chunk_size=10)
    seen: list[str] = []
    released = threading.Event()

    def release() -> bool:
        # On the completion thread, after the chunk's rows and counts were written.
        seen.append(JobChunk.objects.get(pk=chunk_id).status)
        released.set()
        return True

    monkeypatch.setattr(worker, "release_freed_memory", release)
    monkeypatch.setattr(pipeline_module, "TRIM_INTERVAL", 0.0)
    assert jobs.run_chunk(chunk_id, wait=False) is None
    assert released.wait(60), "no release of freed memory after the chunk"
    assert seen[0] == ChunkStatus.DONE
    job.refresh_from_db()
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, 3)


def _png(seed: int) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), ((seed * 53) % 256, 90, (seed * 17) % 256)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_large_plan_hands_back_the_memory_it_freed_and_a_small_one_does_not(db, monkeypatch):
    land = make_land()
    page = make_expression(land)
    for n in range(6):
        make_media(page, url=f"ftp://cdn.example/plan-{n}.png")
    released: list[tuple[str, int]] = []

    def release() -> bool:
        # After the plan's rows are written: the job runs with all its chunks.
        job = AnalysisJob.objects.get(land=land, status=JobStatus.RUNNING)
        released.append((job.status, job.chunks.count()))
        return True

    monkeypatch.setattr(worker, "release_freed_memory", release)
    monkeypatch.setattr(jobs, "TRIM_AFTER_PLAN", 7)
    small = jobs.create_job(land, JobParameters())
    assert len(jobs.plan_job(small.pk, chunk_size=2)) == 3
    assert released == []
    jobs.cancel_job(small)

    monkeypatch.setattr(jobs, "TRIM_AFTER_PLAN", 6)
    large = jobs.create_job(land, JobParameters())
    assert len(jobs.plan_job(large.pk, chunk_size=2)) == 3
    assert released == [(JobStatus.RUNNING, 3)]
