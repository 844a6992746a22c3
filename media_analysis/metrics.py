"""Prometheus metrics of the analysis pipeline, defined once.

Labels stay low-cardinality: outcomes, error classes, media types, job
statuses; never URLs, land names or ids.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MEDIA_PROCESSED = Counter(
    "media_analysis_processed_total",
    "Media whose analysis attempt ended, by outcome (analysed, failed, skipped) and media type.",
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
JOBS_IN_PROGRESS = Gauge(
    "media_analysis_jobs_in_progress",
    "Analysis jobs currently pending or running, as last seen by this process.",
    multiprocess_mode="livemax",
)
CHUNK_SECONDS = Histogram(
    "media_analysis_chunk_seconds",
    "Wall time to process one chunk of media.",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
