"""Prometheus metrics of the analysis pipeline, defined once.

Labels stay low-cardinality: outcomes, error classes, media types, job
statuses; never URLs, land names or ids.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MEDIA_PROCESSED = Counter(
    "media_analysis_processed_total",
    "Media whose analysis attempt ended, by outcome (analysed, reused, unchanged, failed, skipped) and media type.",
    ["outcome", "media_type"],
)
MEDIA_FAILURES = Counter(
    "media_analysis_failures_total",
    "Failed media analyses by error class.",
    ["reason"],
)
DOWNLOAD_SECONDS = Histogram(
    "media_analysis_download_seconds",
    "Time spent downloading (or probing) one media.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
ANALYSIS_SECONDS = Histogram(
    "media_analysis_analysis_seconds",
    "CPU-side analysis time of one downloaded image.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
DOWNLOAD_BYTES = Histogram(
    "media_analysis_download_bytes",
    "Bytes downloaded per media.",
    buckets=(1_000, 10_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000, 10_000_000, 50_000_000),
)
JOBS = Counter(
    "media_analysis_jobs_total",
    "Analysis jobs that reached a status (created, completed, failed, cancelled).",
    ["status"],
)
CHUNK_SECONDS = Histogram(
    "media_analysis_chunk_seconds",
    "Wall time to process one chunk of media.",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
# The download pipeline of each consumer process (media_analysis/jobs/pipeline.py); summed over processes.
PIPELINE_IN_FLIGHT = Gauge(
    "media_analysis_downloads_in_flight", "Downloads running in the pipeline.", multiprocess_mode="livesum"
)
PIPELINE_BYTES = Gauge(
    "media_analysis_bytes_in_flight",
    "Bytes held in memory by the pipeline: being received, or received and not yet analysed.",
    multiprocess_mode="livesum",
)
PIPELINE_SPOOLED_BYTES = Gauge(
    "media_analysis_bytes_on_disk",
    "Bytes of bodies the pipeline keeps on disk until their analysis.",
    multiprocess_mode="livesum",
)
PIPELINE_QUEUED = Gauge(
    "media_analysis_downloads_queued",
    "Distinct URLs of accepted chunks whose download has not started.",
    multiprocess_mode="livesum",
)
PIPELINE_ANALYSIS_QUEUE = Gauge(
    "media_analysis_analysis_queue", "Downloaded images waiting for or in analysis.", multiprocess_mode="livesum"
)


class JobStatusCollector:
    """Jobs by status, read from the database at scrape time (the rows are the truth)."""

    def describe(self):
        return []

    def collect(self):
        from django.db import DatabaseError
        from django.db.models import Count
        from prometheus_client.core import GaugeMetricFamily

        from media_analysis.models import AnalysisJob, JobStatus

        family = GaugeMetricFamily("media_analysis_jobs", "Analysis jobs in the database by status.", labels=["status"])
        try:
            counts = dict(AnalysisJob.objects.values_list("status").annotate(n=Count("id")).order_by())
        except DatabaseError:
            return
        for status in JobStatus.values:
            family.add_metric([status], counts.get(status, 0))
        yield family
        in_progress = counts.get(JobStatus.PENDING, 0) + counts.get(JobStatus.RUNNING, 0)
        yield GaugeMetricFamily(
            "media_analysis_jobs_active", "Analysis jobs pending or running, from the database.", value=in_progress
        )


_collector_registered = False


def register_job_collector() -> None:
    """Register the database-backed collector once per web process."""
    global _collector_registered
    if _collector_registered:
        return
    from prometheus_client import REGISTRY

    REGISTRY.register(JobStatusCollector())
    _collector_registered = True


def start_worker_metrics_server(port: int) -> bool:
    """Expose a consumer's metrics on ``port``; returns False when another worker already serves it.

    With process workers, set PROMETHEUS_MULTIPROC_DIR: every worker writes its
    samples there and whichever binds the port serves the aggregate of all.
    """
    import os

    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    try:
        start_http_server(port, addr=os.environ.get("MEDIA_ANALYSIS_METRICS_ADDR", "127.0.0.1"), registry=registry)
    except OSError:
        return False
    return True
