"""Download, analyse and persist a batch of media (a job's chunk).

Every analysis ends here, whatever started it. The engine (``engine.fetch``,
``engine.image``, ``engine.av_probe``) knows nothing of Django; this module
turns settings into its options and its results into rows.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field as DjangoField
from django.utils import timezone

from lands.models import AnalysisStatus, Media, MediaType
from media_analysis.engine.av_probe import probe_av
from media_analysis.engine.errors import MediaFailure
from media_analysis.engine.fetch import DownloadPolicy, build_session, download, probe
from media_analysis.engine.image import AnalysisOptions, ImageAnalysis, analyse_image
from media_analysis.engine.version import ANALYSIS_VERSION
from media_analysis.jobs import metrics
from media_analysis.stored import save_thumbnail

logger = logging.getLogger("medianalyse.analysis")

# Fields a successful image analysis writes. A failure writes only FAILURE_FIELDS,
# so the values of an earlier successful analysis are never wiped: they stay with
# the date and version (VALUES_FIELDS) of the success that wrote them.
IMAGE_FIELDS = (
    "width",
    "height",
    "file_size",
    "format",
    "color_mode",
    "mime_type",
    "aspect_ratio",
    "frames",
    "has_transparency",
    "exif_data",
    "exif_make",
    "exif_model",
    "exif_datetime",
    "gps_latitude",
    "gps_longitude",
    "dominant_colors",
    "websafe_colors",
    "image_hash",
    "phash",
    "dhash",
    "ahash",
    "colorhash",
    "is_conforming",
    "conformity_reason",
    "thumbnail_key",  # absent from an analysis's fields when none was stored: the row keeps its earlier one
)
AV_FIELDS = ("mime_type", "file_size", "duration", "width", "height")
STATUS_FIELDS = ("analysis_status", "is_processed", "analyzed_at", "analysis_error", "error_class", "attempts")
VALUES_FIELDS = ("analysis_version", "values_at")
FAILURE_FIELDS = STATUS_FIELDS


@dataclass
class MediaOutcome:
    media_id: int
    url: str
    media_type: str
    outcome: str  # "analysed" | "failed" | "skipped"
    error_class: str | None = None
    message: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchResult:
    analysed: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[dict[str, int | str]] = field(default_factory=list)  # media_id, url, error_class, reason

    @property
    def processed(self) -> int:
        return self.analysed + self.failed + self.skipped


# --- Settings, read at each call so that an override (tests, the demo) applies at once ---


def analysis_options() -> AnalysisOptions:
    return AnalysisOptions(
        n_colors=settings.MEDIA_ANALYSIS_N_DOMINANT_COLORS,
        colors=settings.MEDIA_ANALYSIS_COLORS,
        exif=settings.MEDIA_ANALYSIS_EXIF,
        hashes=settings.MEDIA_ANALYSIS_HASHES,
        min_width=settings.MEDIA_ANALYSIS_MIN_WIDTH,
        min_height=settings.MEDIA_ANALYSIS_MIN_HEIGHT,
        max_file_size=settings.MEDIA_ANALYSIS_MAX_FILE_SIZE,
        max_pixels=settings.MEDIA_ANALYSIS_MAX_PIXELS,
        image_formats=tuple(settings.MEDIA_ANALYSIS_IMAGE_FORMATS),
        max_scans=settings.MEDIA_ANALYSIS_MAX_SCANS,
        max_frames=settings.MEDIA_ANALYSIS_MAX_FRAMES,
        timeout=settings.MEDIA_ANALYSIS_ANALYSIS_TIMEOUT or None,
        thumbnail_size=max(0, settings.MEDIA_ANALYSIS_THUMBNAIL_SIZE),
        thumbnail_webp=settings.MEDIA_ANALYSIS_THUMBNAIL_WEBP,
    )


def download_policy() -> DownloadPolicy:
    return DownloadPolicy.from_settings(settings)


def download_concurrency() -> int:
    """Download threads per batch."""
    return max(1, settings.MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY)


def analysis_threads() -> int:
    """Images analysed at once per process."""
    return max(1, settings.MEDIA_ANALYSIS_ANALYSIS_THREADS)


# --- Per-process resources shared by the batches of a consumer ---


_session_lock = threading.Lock()
_shared_session: tuple[DownloadPolicy, requests.Session] | None = None


def shared_session(policy: DownloadPolicy) -> requests.Session:
    """One Session per process (and per policy), shared by the download threads."""
    global _shared_session
    with _session_lock:
        if _shared_session is None or _shared_session[0] != policy:
            # Several worker threads of one consumer share the session, each
            # running its own download pool: size the connection pool for that.
            pool = download_concurrency() * 4
            _shared_session = (policy, build_session(policy, pool_size=pool))
        return _shared_session[1]


_analysis_slots_lock = threading.Lock()
_analysis_slots: tuple[int, threading.BoundedSemaphore] | None = None


def analysis_slots() -> threading.BoundedSemaphore:
    """How many images this process analyses at once, whatever the number of download threads.

    Downloads mostly wait on the network, so many run at once; analysis needs a
    core. More analyses than cores only add memory and cache pressure.
    """
    global _analysis_slots
    wanted = analysis_threads()
    with _analysis_slots_lock:
        if _analysis_slots is None or _analysis_slots[0] != wanted:
            _analysis_slots = (wanted, threading.BoundedSemaphore(wanted))
        return _analysis_slots[1]


# --- One media, then a batch ---


def _analyse_image_url(url: str, session: requests.Session, policy: DownloadPolicy, options: AnalysisOptions) -> dict:
    started = time.perf_counter()
    downloaded = download(session, url, policy)
    metrics.DOWNLOAD_SECONDS.observe(time.perf_counter() - started)
    metrics.DOWNLOAD_BYTES.observe(len(downloaded.content))
    with analysis_slots():
        started = time.perf_counter()
        result = analyse_image(downloaded.content, options)
        metrics.ANALYSIS_SECONDS.observe(time.perf_counter() - started)
    return result.as_fields() | stored_thumbnail(result, options)


def stored_thumbnail(result: ImageAnalysis, options: AnalysisOptions) -> dict[str, str]:
    """``{"thumbnail_key": key}`` once the analysis's thumbnail is stored; nothing when there is none.

    A storage that fails costs the thumbnail, never the analysis.
    """
    if result.thumbnail is None:
        return {}
    try:
        key = save_thumbnail(
            result.image_hash, result.thumbnail.data, size=options.thumbnail_size, extension=result.thumbnail.extension
        )
    except Exception:
        logger.exception("could not store the thumbnail of %s", result.image_hash)
        return {}
    return {"thumbnail_key": key}


def _probe_av_url(url: str, session: requests.Session, policy: DownloadPolicy) -> dict:
    started = time.perf_counter()
    probed = probe(session, url, policy)
    metrics.DOWNLOAD_SECONDS.observe(time.perf_counter() - started)
    info = probe_av(probed.head, probed.size)
    return {
        "mime_type": info.mime_type or probed.mime_type,
        "file_size": probed.size,
        "duration": info.duration if info.duration is not None else probed.duration,
        "width": info.width if info.width is not None else probed.width,
        "height": info.height if info.height is not None else probed.height,
    }


def process_one(
    media_id: int,
    url: str,
    media_type: str,
    session: requests.Session,
    policy: DownloadPolicy,
    options: AnalysisOptions,
) -> MediaOutcome:
    """Download and analyse one media. Never raises: every ending is an outcome."""
    try:
        if media_type == MediaType.IMAGE:
            fields = _analyse_image_url(url, session, policy, options)
        else:
            fields = _probe_av_url(url, session, policy)
        return MediaOutcome(media_id, url, media_type, "analysed", fields=fields)
    except MediaFailure as failure:
        fields = {}
        if failure.mime_type:
            fields["mime_type"] = failure.mime_type[:100]
        return MediaOutcome(
            media_id, url, media_type, "failed", error_class=failure.error_class, message=str(failure), fields=fields
        )
    except Exception as exc:  # a bug or an unforeseen library error must not kill the batch
        logger.exception("unexpected error analysing media %s (%s)", media_id, url)
        return MediaOutcome(
            media_id, url, media_type, "failed", error_class="error", message=f"{type(exc).__name__}: {exc}"
        )


def _apply_outcome(media: Media, outcome: MediaOutcome, now: datetime) -> None:
    """Record the latest attempt: its status is the media's status, whatever came before."""
    media.analyzed_at = now
    media.attempts = (media.attempts or 0) + 1
    if outcome.outcome == "analysed":
        for name, value in outcome.fields.items():
            setattr(media, name, value)
        media.analysis_version = ANALYSIS_VERSION
        media.values_at = now
        media.analysis_error = None
        media.error_class = None
        media.set_status(AnalysisStatus.DONE)
        return
    media.analysis_error = (outcome.message or "")[:2000]
    media.error_class = outcome.error_class
    # Failed, even after an earlier success: that success's values stay, with
    # their own date and version, so every display can tell them apart.
    media.set_status(AnalysisStatus.FAILED)
    if "mime_type" in outcome.fields and not (media.holds_values and media.mime_type):
        # What was served instead of an image; kept values keep their own type.
        media.mime_type = outcome.fields["mime_type"]


def analyse_media(ids: Sequence[int], *, concurrency: int | None = None) -> BatchResult:
    """Analyse the given media and write every result in bulk.

    Ids whose rows no longer exist are counted as skipped. One media's failure
    is recorded on its row and never stops the batch.
    """
    result = BatchResult()
    wanted = list(dict.fromkeys(ids))
    rows = {m.pk: m for m in Media.objects.filter(pk__in=wanted)}
    result.skipped = len(wanted) - len(rows)
    if not rows:
        return result
    policy = download_policy()
    options = analysis_options()
    session = shared_session(policy)
    workers = max(1, min(concurrency or download_concurrency(), len(rows)))

    def work(media: Media) -> MediaOutcome:
        return process_one(media.pk, media.url, media.type, session, policy, options)

    if workers == 1:
        outcomes = [work(m) for m in rows.values()]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="media-download") as pool:
            outcomes = list(pool.map(work, rows.values()))

    now = timezone.now()
    succeeded: list[Media] = []
    failed: list[Media] = []
    for outcome in outcomes:
        media = rows[outcome.media_id]
        _apply_outcome(media, outcome, now)
        metrics.MEDIA_PROCESSED.labels(outcome=outcome.outcome, media_type=outcome.media_type).inc()
        if outcome.outcome == "analysed":
            succeeded.append(media)
            result.analysed += 1
        else:
            failed.append(media)
            result.failed += 1
            metrics.MEDIA_FAILURES.labels(reason=outcome.error_class or "error").inc()
            result.failures.append(
                {
                    "media_id": media.pk,
                    "url": media.url,
                    "error_class": outcome.error_class or "error",
                    "reason": media.analysis_error or "",
                }
            )
    with transaction.atomic():
        images = [m for m in succeeded if m.type == MediaType.IMAGE]
        others = [m for m in succeeded if m.type != MediaType.IMAGE]
        write_media_fields(images, [*IMAGE_FIELDS, *STATUS_FIELDS, *VALUES_FIELDS])
        write_media_fields(others, [*AV_FIELDS, *STATUS_FIELDS, *VALUES_FIELDS])
        write_media_fields(failed, [*FAILURE_FIELDS, "mime_type"])
    return result


def write_media_fields(rows: Sequence[Media], field_names: Sequence[str]) -> None:
    """Save these fields of these rows with one prepared UPDATE run for every row.

    ``bulk_update`` builds a CASE WHEN per field and row; for a chunk of a
    hundred media and thirty fields that costs more CPU than analysing them.
    Values are prepared by each field (JSON, datetimes), so both backends get
    what ``save()`` would send.
    """
    if not rows:
        return
    fields = [_concrete_field(name) for name in field_names]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(_column(f))} = %s" for f in fields)
    pk_column = quote(_column(Media._meta.pk))
    sql = f"UPDATE {quote(Media._meta.db_table)} SET {assignments} WHERE {pk_column} = %s"
    params = [[f.get_db_prep_save(getattr(row, f.attname), connection) for f in fields] + [row.pk] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _concrete_field(name: str) -> DjangoField:
    model_field = Media._meta.get_field(name)
    if not isinstance(model_field, DjangoField):
        raise TypeError(f"Media.{name} is a relation, not a column")
    return model_field


def _column(model_field: DjangoField) -> str:
    if model_field.column is None:
        raise TypeError(f"Media.{model_field.name} has no column")
    return model_field.column
