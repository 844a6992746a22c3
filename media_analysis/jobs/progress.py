"""Job progress for live pages: one snapshot format, best-effort publishing.

The job row is the truth; what goes over the channel layer is a copy of it
that lets open pages update without polling. Publishing never fails a chunk:
a channel-layer outage is logged and ignored.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from media_analysis.models import AnalysisJob, ChunkStatus, JobStatus

logger = logging.getLogger("medianalyse.progress")

PUBLISH_TIMEOUT_SECONDS = 2.0
MIN_INTERVAL_SECONDS = 0.25  # at most about four events a second per job and process


def job_group(job_id: int) -> str:
    return f"analysis-job-{job_id}"


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def chunks_still_running(job: AnalysisJob) -> int:
    """Chunks of an ended job that a live worker still holds: their counts reach the job when they end.

    Cancelling (or a failure) stops chunks before their turn, not those already claimed. A claim older
    than the lease belongs to a worker that died: that chunk will add nothing more.
    """
    if job.is_active or job.status == JobStatus.COMPLETED:
        # Active: every chunk may still run. Completed: every chunk is done.
        return 0
    fresh = timezone.now() - timedelta(seconds=settings.MEDIA_ANALYSIS_CHUNK_LEASE_SECONDS)
    return job.chunks.filter(status=ChunkStatus.PENDING, claimed_at__gte=fresh).exclude(claimed_by="").count()


def job_snapshot(job: AnalysisJob, *, running_chunks: bool = True) -> dict[str, Any]:
    """Everything a progress page shows, JSON-ready.

    ``settled``: the figures will not change any more (the job ended and no chunk of it is still running).
    ``not_processed``: media an ended job never reached (cancelled before their turn), apart from the
    ``skipped`` ones that a chunk found gone. Without ``running_chunks`` (lists of many jobs) the chunks
    are not looked at and an ended job counts as settled.
    """
    running = chunks_still_running(job) if running_chunks else 0
    return {
        "id": job.pk,
        "land": job.land_id,
        "status": job.status,
        "is_active": job.is_active,
        "total": job.total,
        "processed": job.processed,
        "analysed": job.analysed,
        "reused": job.reused,
        "unchanged": job.unchanged,
        "failed": job.failed,
        "skipped": job.skipped,
        "not_processed": 0 if job.is_active else max(0, job.total - job.processed),
        "running_chunks": running,
        "settled": not job.is_active and running == 0,
        "progress": job.progress,
        "success_rate": job.success_rate,
        "throughput": job.throughput,
        "eta_seconds": job.eta_seconds,
        "duration_seconds": job.duration_seconds,
        "chunks_total": job.chunks_total,
        "chunks_done": job.chunks_done,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "updated_at": _iso(job.updated_at),
        "error": job.error,
        "recent_failures": list(job.recent_failures or [])[:10],
    }


_last_sent: dict[int, float] = {}
_last_sent_lock = threading.Lock()


def _due(job_id: int, final: bool) -> bool:
    now = time.monotonic()
    with _last_sent_lock:
        if not final and now - _last_sent.get(job_id, 0.0) < MIN_INTERVAL_SECONDS:
            return False
        _last_sent[job_id] = now
        return True


async def _send(group: str, message: dict[str, Any]) -> None:
    # Each async_to_sync call runs on a short-lived loop; channels-redis (>= 4.1)
    # closes the pool of a loop when that loop closes. Closing pools here would
    # also close those of WebSocket consumers living in the same process.
    layer = get_channel_layer()
    if layer is None:
        return
    await asyncio.wait_for(layer.group_send(group, message), timeout=PUBLISH_TIMEOUT_SECONDS)


def publish_job_progress(job: AnalysisJob, *, final: bool = False) -> bool:
    """Tell open pages that the job changed. Returns False when skipped or failed; never raises."""
    if not _due(job.pk, final or not job.is_active):
        return False
    message = {"type": "job.progress", "job": job_snapshot(job)}
    try:
        async_to_sync(_send)(job_group(job.pk), message)
    except Exception as exc:  # best effort: the row is the truth, pages also poll it
        logger.warning("could not publish progress of job %s: %s: %s", job.pk, type(exc).__name__, exc)
        return False
    return True
