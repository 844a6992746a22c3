"""Download, analyse and persist a batch of media (a job's chunk).

Every analysis ends here, whatever started it. The engine (``engine.fetch``,
``engine.image``, ``engine.av_probe``) knows nothing of Django; this module
turns settings into its options and its results into rows.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from dataclasses import fields as dataclass_fields
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Min
from django.db.models import Field as DjangoField
from django.utils import timezone

from lands.models import AnalysisStatus, Media, MediaType
from media_analysis.engine.av_probe import probe_av
from media_analysis.engine.errors import MediaFailure, Throttled
from media_analysis.engine.fetch import DownloadPolicy, NotModified, Validators, build_session, download, probe
from media_analysis.engine.fetch.spool import Spool, SpooledBody
from media_analysis.engine.image import AnalysisOptions, ImageAnalysis, analyse_image
from media_analysis.engine.image.budget import DecodeBudget, analysis_memory
from media_analysis.engine.text import TextOptions, TextReading, words
from media_analysis.engine.version import ANALYSIS_VERSION, TEXT_VERSION
from media_analysis.jobs import metrics
from media_analysis.models import MediaText, MediaWord, TextStatus
from media_analysis.stored import save_original, save_thumbnail

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
    "region_hashes",
    "is_conforming",
    "conformity_reason",
    "thumbnail_key",  # absent from an analysis's fields when none was stored: the row keeps its earlier one
    "original_key",  # likewise: present only when the original was archived
)
AV_FIELDS = ("mime_type", "file_size", "duration", "width", "height")
STATUS_FIELDS = (
    "analysis_status",
    "is_processed",
    "analyzed_at",
    "analysis_error",
    "error_class",
    "attempts",
    "response_seconds",
)
# The validators describe the bytes the values came from, so they are written
# with the values (and cleared when a response carries none); ``checked_at``
# belongs to the values too, and new values have not been re-checked yet.
VALUES_FIELDS = ("analysis_version", "values_at", "http_etag", "http_last_modified", "checked_at")
FAILURE_FIELDS = STATUS_FIELDS
# A 304: the attempt is recorded, the values and their date stay, the
# validators are refreshed with those the 304 carried.
UNCHANGED_FIELDS = (*STATUS_FIELDS, "checked_at", "http_etag", "http_last_modified")


@dataclass
class MediaOutcome:
    media_id: int
    url: str
    media_type: str
    # "analysed" | "reused" (values copied from an analysis of the same bytes) | "unchanged" (a 304 kept the
    # stored values) | "failed" | "skipped"
    outcome: str
    error_class: str | None = None
    message: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    text: TextReading | None = None  # the text read in the picture, for a job with OCR
    response_seconds: float | None = None  # how long its request took, when one was made (the pipeline's clock)


# The key under which values to copy (``reused_outcome``) carry their text reading.
TEXT_READING = "text_reading"


def values_of(outcome: MediaOutcome) -> dict[str, Any]:
    """An analysed outcome's values as ``reused_outcome`` copies them: its fields, and its text reading."""
    if outcome.text is None:
        return outcome.fields
    return {**outcome.fields, TEXT_READING: outcome.text}


@dataclass
class BatchResult:
    analysed: int = 0
    reused: int = 0
    unchanged: int = 0
    failed: int = 0
    skipped: int = 0
    failures: list[dict[str, int | str]] = field(default_factory=list)  # media_id, url, error_class, reason

    @property
    def processed(self) -> int:
        return self.analysed + self.reused + self.unchanged + self.failed + self.skipped


# --- Settings, read at each call so that an override (tests, the demo) applies at once ---


def text_options() -> TextOptions:
    return TextOptions(
        languages=settings.MEDIA_ANALYSIS_OCR_LANGUAGES,
        tessdata=settings.MEDIA_ANALYSIS_OCR_TESSDATA,
        threshold=settings.MEDIA_ANALYSIS_OCR_THRESHOLD,
        timeout=settings.MEDIA_ANALYSIS_OCR_TIMEOUT,
        max_side=max(64, settings.MEDIA_ANALYSIS_OCR_MAX_SIDE),
    )


def analysis_options(ocr: bool = False) -> AnalysisOptions:
    """The engine's options from the settings; with ``ocr``, the text in pictures is read too."""
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
        thumbnail_redecode=settings.MEDIA_ANALYSIS_THUMBNAIL_REDECODE,
        text=text_options() if ocr else None,
    )


def download_policy() -> DownloadPolicy:
    return DownloadPolicy.from_settings(settings)


def download_concurrency() -> int:
    """Downloads in flight per process (the pipeline's limit)."""
    return max(1, settings.MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY)


def revalidation_concurrency() -> int:
    """Conditional requests in flight per process, beside ``download_concurrency`` (the pipeline's other limit)."""
    return max(1, settings.MEDIA_ANALYSIS_REVALIDATION_CONCURRENCY)


def bytes_in_flight() -> int:
    """Bytes a process may hold between download and analysis before it starts no more downloads."""
    return max(1, settings.MEDIA_ANALYSIS_BYTES_IN_FLIGHT)


def body_spool() -> Spool | None:
    """A new spool of this process for bodies past ``MEDIA_ANALYSIS_SPOOL_THRESHOLD`` (None when it is 0).

    Creating it removes the spools of processes that died with bodies on disk; it is removed at the process's exit.
    """
    threshold = settings.MEDIA_ANALYSIS_SPOOL_THRESHOLD
    if threshold <= 0:
        return None
    spool = Spool(Path(settings.MEDIA_ANALYSIS_SPOOL_DIR), threshold, max(0, settings.MEDIA_ANALYSIS_SPOOL_MAX_BYTES))
    # A process that ends normally leaves nothing behind; one killed leaves its directory to the next sweep.
    atexit.register(spool.close)
    return spool


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
            # Every download of the process shares the session: one connection each.
            pool = max(download_concurrency(), revalidation_concurrency())
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


_decode_budget_lock = threading.Lock()
_decode_budget: DecodeBudget | None = None


def decode_budget() -> DecodeBudget:
    """The bytes of decoded images this process's analyses may hold at once (``MEDIA_ANALYSIS_DECODE_BUDGET``).

    The analysis threads bound how many images are decoded at once, not how
    large they are: four large PNGs at once hold four times what one does.
    """
    global _decode_budget
    wanted = max(0, settings.MEDIA_ANALYSIS_DECODE_BUDGET)
    with _decode_budget_lock:
        if _decode_budget is None or _decode_budget.capacity != wanted:
            _decode_budget = DecodeBudget(wanted)
        return _decode_budget


# --- One media, then a batch ---


@dataclass
class Fetched:
    """An image's body, downloaded and waiting for its analysis."""

    media_id: int
    url: str
    media_type: str
    content: bytes  # empty when the body is on disk
    validators: Validators = field(default_factory=Validators)  # the response's, kept with the values
    sha256: str = ""  # of the body: the key of analyses reused by content
    # The body on disk, when it passed the spool's threshold: removed by whoever releases the body.
    spooled: SpooledBody | None = None

    @property
    def in_memory(self) -> int:
        """The body's bytes held in memory."""
        return len(self.content)

    def body(self) -> bytes:
        """The body's bytes, read from its file when it is on disk."""
        return self.spooled.read_bytes() if self.spooled is not None else self.content

    def without_body(self) -> Fetched:
        """The same media, its body let go (its file is its first holder's to remove)."""
        return replace(self, content=b"", spooled=None)

    def discard(self) -> None:
        """Remove the body's file, if it has one."""
        if self.spooled is not None:
            self.spooled.discard()


def reuse_by_content() -> bool:
    return bool(settings.MEDIA_ANALYSIS_REUSE_BY_CONTENT)


def reusable_values(sha256s: Sequence[str], text: bool = False) -> dict[str, dict[str, Any]]:
    """SHA-256 -> the image fields of one media analysed from those bytes by the current version; one query each.

    Two indexed queries whatever the number of digests or of media sharing
    one: the first media of each digest, then its fields. With ``text``, only
    media whose text was read count, and their reading comes along (a third query).
    """
    wanted = sorted(set(sha256s))
    if not wanted:
        return {}
    sources = Media.objects.analysed_with_content(wanted, ANALYSIS_VERSION)
    if text:
        sources = sources.filter(ocr__version__gte=TEXT_VERSION).exclude(ocr__status=TextStatus.FAILED)
    firsts = sources.order_by().values("image_hash").annotate(first=Min("pk")).values_list("first", flat=True)
    rows = list(Media.objects.filter(pk__in=list(firsts)).values("pk", *IMAGE_FIELDS))
    if text:
        readings = {t.media_id: reading_of(t) for t in MediaText.objects.filter(media_id__in=[r["pk"] for r in rows])}
        for row in rows:
            row[TEXT_READING] = readings.get(row["pk"])
    return {row["image_hash"]: row for row in rows}


TEXT_FIELDS = tuple(f.name for f in dataclass_fields(TextReading))


def reading_of(row: MediaText) -> TextReading:
    return TextReading(**{name: getattr(row, name) for name in TEXT_FIELDS})


def reused_outcome(fetched: Fetched, values: dict[str, Any]) -> MediaOutcome:
    """``fetched``'s outcome from the values of an analysis of the same bytes; its own validators stay its own.

    The original is archived from these bytes when the analysis that is copied did not keep it.
    """
    fields = {name: values[name] for name in IMAGE_FIELDS if name in values}
    if not fields.get("original_key"):
        fields.pop("original_key", None)
        if settings.MEDIA_ANALYSIS_ARCHIVE_ORIGINALS:
            fields.update(archived_original(fetched.body(), fetched.sha256, fields.get("mime_type")))
    if not fields.get("thumbnail_key"):
        fields.pop("thumbnail_key", None)  # the row keeps any it has
    fields.update(_validator_fields(fetched.validators))
    # The media's own values: an earlier attempt of this chunk analysed it and wrote its row, then its
    # consumer died before the chunk's counts were added. It counts as analysed, as it would have then.
    kind = "analysed" if values.get("pk") == fetched.media_id else "reused"
    return MediaOutcome(
        fetched.media_id, fetched.url, fetched.media_type, kind, fields=fields, text=values.get(TEXT_READING)
    )


def archived_original(content: bytes, sha256: str, mime_type: str | None) -> dict[str, str]:
    """``{"original_key": key}`` once the original is archived; nothing when archiving is off or the file too large.

    A storage that fails costs the archived copy, never the analysis.
    """
    if not settings.MEDIA_ANALYSIS_ARCHIVE_ORIGINALS or not content:
        return {}
    if len(content) > settings.MEDIA_ANALYSIS_ARCHIVE_MAX_BYTES:
        return {}
    try:
        key = save_original(content, mime_type, sha256=sha256 or None)
    except Exception:
        logger.exception("could not archive the original %s", sha256)
        return {}
    return {"original_key": key}


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


def failed_outcome(media_id: int, url: str, media_type: str, failure: MediaFailure) -> MediaOutcome:
    fields = {}
    if failure.mime_type:
        fields["mime_type"] = failure.mime_type[:100]
    return MediaOutcome(
        media_id, url, media_type, "failed", error_class=failure.error_class, message=str(failure), fields=fields
    )


def unexpected_outcome(media_id: int, url: str, media_type: str, exc: Exception) -> MediaOutcome:
    # A bug or an unforeseen library error must not kill the batch.
    logger.exception("unexpected error analysing media %s (%s)", media_id, url)
    return MediaOutcome(
        media_id, url, media_type, "failed", error_class="error", message=f"{type(exc).__name__}: {exc}"
    )


def stored_validators(media: Media) -> Validators | None:
    """The validators a re-analysis of ``media`` sends, or None for an unconditional request.

    Only values computed by the current analysis may be kept by a 304: an
    older version's are recomputed from the bytes, whatever the server says.
    """
    if not settings.MEDIA_ANALYSIS_CONDITIONAL_REQUESTS:
        return None
    if not media.holds_values or media.analysis_version != ANALYSIS_VERSION:
        return None
    validators = Validators(media.http_etag or None, media.http_last_modified or None)
    return validators or None


def _validator_fields(validators: Validators) -> dict[str, Any]:
    return {"http_etag": validators.etag, "http_last_modified": validators.last_modified}


def _probe_av_url(
    url: str, session: requests.Session, policy: DownloadPolicy, validators: Validators | None = None
) -> dict | NotModified:
    started = time.perf_counter()
    probed = probe(session, url, policy, validators)
    metrics.DOWNLOAD_SECONDS.observe(time.perf_counter() - started)
    if isinstance(probed, NotModified):
        return probed
    info = probe_av(probed.head, probed.size)
    return {
        "mime_type": info.mime_type or probed.mime_type,
        "file_size": probed.size,
        "duration": info.duration if info.duration is not None else probed.duration,
        "width": info.width if info.width is not None else probed.width,
        "height": info.height if info.height is not None else probed.height,
        **_validator_fields(probed.validators),
    }


def fetch_one(
    media_id: int,
    url: str,
    media_type: str,
    session: requests.Session,
    policy: DownloadPolicy,
    on_bytes: Callable[[int], None] | None = None,
    validators: Validators | None = None,
    spool: Spool | None = None,
) -> MediaOutcome | Fetched:
    """The network half of one media's analysis: an image's body to analyse, or already an outcome.

    Video and audio end here (their probe is cheap); so does every failure,
    and a 304 to a conditional request (``validators``): the outcome
    "unchanged", whose fields are the validators to keep.
    ``Throttled`` is raised, not recorded, when the policy defers throttling:
    the caller pauses the host and tries again later.
    ``on_bytes`` is told how the image body's decoded bytes held in memory change, piece by piece. With
    ``spool``, a body past its threshold is kept on disk (``Fetched.spooled``, the caller's to remove), and
    ``on_bytes`` is told the bytes that left memory for the file as a negative change.
    """
    try:
        if media_type == MediaType.IMAGE:
            started = time.perf_counter()
            downloaded = download(session, url, policy, validators, spool=spool, on_memory=on_bytes)
            metrics.DOWNLOAD_SECONDS.observe(time.perf_counter() - started)
            if isinstance(downloaded, NotModified):
                return _unchanged(media_id, url, media_type, validators, downloaded)
            spooled = downloaded.spooled
            try:
                metrics.DOWNLOAD_BYTES.observe(downloaded.size)
                digest = spooled.sha256() if spooled is not None else hashlib.sha256(downloaded.content).hexdigest()
            except BaseException:
                if spooled is not None:
                    spooled.discard()
                raise
            return Fetched(media_id, url, media_type, downloaded.content, downloaded.validators, digest, spooled)
        probed = _probe_av_url(url, session, policy, validators)
        if isinstance(probed, NotModified):
            return _unchanged(media_id, url, media_type, validators, probed)
        return MediaOutcome(media_id, url, media_type, "analysed", fields=probed)
    except Throttled:
        raise  # only with policy.defer_throttling: the caller's to handle
    except MediaFailure as failure:
        return failed_outcome(media_id, url, media_type, failure)
    except Exception as exc:
        return unexpected_outcome(media_id, url, media_type, exc)


def _unchanged(media_id: int, url: str, media_type: str, sent: Validators | None, answer: NotModified) -> MediaOutcome:
    kept = (sent or Validators()).updated_by(answer.validators)
    return MediaOutcome(media_id, url, media_type, "unchanged", fields=_validator_fields(kept))


def analyse_fetched(
    fetched: Fetched, options: AnalysisOptions, give_up: Callable[[], bool] | None = None
) -> MediaOutcome | None:
    """The computing half of one media's analysis (``fetch_one`` the other): analyse an image. Never raises.

    The analysis waits for its share of the process's decode budget; ``give_up``, asked while it waits, may end
    the wait (a cancelled job's): then nothing is analysed and None is returned.
    """
    media_id, url, media_type = fetched.media_id, fetched.url, fetched.media_type
    try:
        with analysis_slots():
            # The download thread took the body's SHA-256 already (the key of reuse by content).
            # A body on disk is read back only now, by one of the few analysis threads: the bodies waiting for
            # them stay out of memory.
            content = fetched.body()
            with decode_budget().hold(analysis_memory(content, options), give_up) as held:
                if not held:
                    return None
                started = time.perf_counter()
                result = analyse_image(content, options, sha256=fetched.sha256 or None)
                metrics.ANALYSIS_SECONDS.observe(time.perf_counter() - started)
        fields = {
            **result.as_fields(),
            **_validator_fields(fetched.validators),
            **stored_thumbnail(result, options),
            **archived_original(content, result.image_hash, result.mime_type),
        }
        return MediaOutcome(media_id, url, media_type, "analysed", fields=fields, text=result.text)
    except MediaFailure as failure:
        return failed_outcome(media_id, url, media_type, failure)
    except Exception as exc:
        return unexpected_outcome(media_id, url, media_type, exc)


def response_class(seconds: float) -> float:
    """``seconds`` rounded up to 1, 2 or 5 times a power of ten (at least 0.01): what a plan needs to start the
    slowest URLs first, coarse enough that most rows of a chunk share a value (and a 304's UPDATE)."""
    scale = 0.01
    while True:
        for step in (1, 2, 5):
            bound = round(step * scale, 2)
            if seconds <= bound:
                return bound
        scale *= 10


def _apply_outcome(media: Media, outcome: MediaOutcome, now: datetime) -> None:
    """Record the latest attempt: its status is the media's status, whatever came before."""
    media.analyzed_at = now
    media.attempts = (media.attempts or 0) + 1
    if outcome.response_seconds is not None:
        media.response_seconds = response_class(outcome.response_seconds)
    if outcome.outcome in ("analysed", "reused"):
        for name, value in outcome.fields.items():
            setattr(media, name, value)
        media.analysis_version = ANALYSIS_VERSION
        media.values_at = now
        media.checked_at = None
        media.analysis_error = None
        media.error_class = None
        media.set_status(AnalysisStatus.DONE)
        return
    if outcome.outcome == "unchanged":
        # The server confirmed the bytes the stored values come from: they,
        # their version and values_at stay; only the check is recorded.
        media.http_etag = outcome.fields.get("http_etag")
        media.http_last_modified = outcome.fields.get("http_last_modified")
        media.checked_at = now
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


def skipped_outcome(media_id: int, url: str, media_type: str) -> MediaOutcome:
    """A media left alone (its job was cancelled before its download started): its row is not touched."""
    return MediaOutcome(media_id, url, media_type, "skipped")


def record_outcomes(rows: dict[int, Media], outcomes: Sequence[MediaOutcome], result: BatchResult) -> BatchResult:
    """Apply the outcomes to their rows, write them in bulk and add them to ``result``."""
    now = timezone.now()
    succeeded: list[Media] = []
    unchanged: list[Media] = []
    confirmed: list[Media] = []  # unchanged, and the 304 confirmed the validators stored
    failed: list[Media] = []
    for outcome in outcomes:
        media = rows[outcome.media_id]
        metrics.MEDIA_PROCESSED.labels(outcome=outcome.outcome, media_type=outcome.media_type).inc()
        if outcome.outcome == "skipped":
            result.skipped += 1
            continue
        same_validators = (media.http_etag, media.http_last_modified) == (
            outcome.fields.get("http_etag"),
            outcome.fields.get("http_last_modified"),
        )
        _apply_outcome(media, outcome, now)
        if outcome.outcome == "analysed":
            succeeded.append(media)
            result.analysed += 1
        elif outcome.outcome == "reused":
            succeeded.append(media)
            result.reused += 1
        elif outcome.outcome == "unchanged":
            (confirmed if same_validators else unchanged).append(media)
            result.unchanged += 1
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
        write_media_fields(unchanged, UNCHANGED_FIELDS)
        write_confirmed(confirmed, now)
        write_media_fields(failed, [*FAILURE_FIELDS, "mime_type"])
        write_texts({o.media_id: o.text for o in outcomes if o.text is not None and o.media_id in rows}, now)
    return result


# Rows recorded as unchanged by one UPDATE, at most (the ids are its parameters).
CONFIRMED_BATCH = 1000


def write_confirmed(rows: Sequence[Media], now: datetime) -> None:
    """Record a 304 that kept the stored validators on these rows: one UPDATE per ``CONFIRMED_BATCH`` rows.

    What a 304 writes is the same on each of them (the check's time, done, no error) but the attempts, counted
    up in the statement, and the response time, a coarse class (``response_class``) that few rows differ in:
    a forced re-analysis of an unchanged land costs a few statements per chunk rather than one per row.
    ``_apply_outcome`` has set the same values on the objects.
    """
    by_response: dict[float | None, list[int]] = {}
    for row in rows:
        by_response.setdefault(row.response_seconds, []).append(row.pk)
    for response_seconds, ids in by_response.items():
        for start in range(0, len(ids), CONFIRMED_BATCH):
            Media.objects.filter(pk__in=ids[start : start + CONFIRMED_BATCH]).update(
                analysis_status=AnalysisStatus.DONE,
                is_processed=True,
                analyzed_at=now,
                checked_at=now,
                analysis_error=None,
                error_class=None,
                attempts=F("attempts") + 1,
                response_seconds=response_seconds,
            )


WORD_BATCH = 2000  # words inserted per statement


def write_texts(readings: dict[int, TextReading], now: datetime) -> None:
    """Replace the text rows and the words of these media: three statements, whatever their number.

    One upsert for the texts, one delete and one insert (per WORD_BATCH) for the
    words, so a chunk costs the same few queries with or without text.
    """
    if not readings:
        return
    texts = [
        MediaText(
            media_id=media_id,
            recognised_at=now,
            version=TEXT_VERSION,
            **{name: getattr(r, name) for name in TEXT_FIELDS},
        )
        for media_id, r in readings.items()
    ]
    MediaText.objects.bulk_create(
        texts, update_conflicts=True, unique_fields=["media"], update_fields=[*TEXT_FIELDS, "version", "recognised_at"]
    )
    MediaWord.objects.filter(media_id__in=list(readings)).delete()
    rows = [
        MediaWord(media_id=media_id, word=word, count=count)
        for media_id, reading in readings.items()
        for word, count in sorted(words(reading.text).items())
        if len(word) <= MAX_WORD_LENGTH
    ]
    if rows:
        MediaWord.objects.bulk_create(rows, batch_size=WORD_BATCH)


MAX_WORD_LENGTH = MediaWord._meta.get_field("word").max_length or 64


def without_text(rows: dict[int, Media]) -> set[int]:
    """The images among these rows whose text was never read, or read by an older OCR step (one query)."""
    images = [pk for pk, m in rows.items() if m.type == MediaType.IMAGE]
    read = set(MediaText.objects.current().filter(media_id__in=images).values_list("media_id", flat=True))
    return set(images) - read


def pipeline_items(rows: dict[int, Media], ocr: bool) -> list[tuple[int, str, str, Validators | None]]:
    """What the pipeline downloads for these rows: (pk, url, type, validators to send, if any).

    A 304 keeps values without bytes: with ``ocr``, a picture whose text has no current reading is fetched
    in full (no validators) to read it.
    """
    unread = without_text(rows) if ocr else set()
    return [(m.pk, m.url, m.type, None if m.pk in unread else stored_validators(m)) for m in rows.values()]


def load_rows(ids: Sequence[int]) -> tuple[dict[int, Media], int]:
    """The rows of these media, and how many of the ids have no row any more."""
    wanted = list(dict.fromkeys(ids))
    rows = {m.pk: m for m in Media.objects.filter(pk__in=wanted)}
    return rows, len(wanted) - len(rows)


def analyse_media(ids: Sequence[int], ocr: bool = False) -> BatchResult:
    """Analyse the given media through this process's pipeline, wait, and write every result in bulk.

    Ids whose rows no longer exist are counted as skipped. One media's failure
    is recorded on its row and never stops the batch. Media sharing a URL are
    downloaded once.
    """
    from media_analysis.jobs.pipeline import pipeline

    rows, missing = load_rows(ids)
    result = BatchResult(skipped=missing)
    if not rows:
        return result
    outcomes = pipeline().run(pipeline_items(rows, ocr), ocr=ocr)
    return record_outcomes(rows, outcomes, result)


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
