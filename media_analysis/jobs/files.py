"""The stored files after their analysis: originals archived afterwards, missing thumbnails made, orphans removed.

Every file is content-addressed (``media_analysis.stored``), so one file may be
referenced by media of several lands: a file is removed only when no media
references it any more. Downloads go through the same fetch path as the
analysis (the SSRF guard on every hop, the byte cap, robots.txt when respected).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from lands.models import Media, MediaQuerySet, MediaType
from media_analysis import stored
from media_analysis.engine.errors import MediaFailure
from media_analysis.engine.fetch import download
from media_analysis.engine.fetch.robots import check_robots
from media_analysis.engine.image import analyse_image
from media_analysis.engine.image.budget import analysis_memory
from media_analysis.jobs import batch as media_batch
from media_analysis.jobs.hosts import robots_cache

logger = logging.getLogger("medianalyse.files")

# Keys checked against the media table in one query.
KEY_BATCH = 500


# --- Which files are referenced ------------------------------------------------------------------


def referenced_keys(keys: Iterable[str]) -> set[str]:
    """Those of ``keys`` that some media references (as its thumbnail or its original)."""
    wanted = list(dict.fromkeys(keys))
    found: set[str] = set()
    for start in range(0, len(wanted), KEY_BATCH):
        part = wanted[start : start + KEY_BATCH]
        rows = Media.objects.filter(Q(thumbnail_key__in=part) | Q(original_key__in=part))
        for thumbnail, original in rows.values_list("thumbnail_key", "original_key"):
            found.update(key for key in (thumbnail, original) if key)
    return found & set(wanted)


def land_file_keys(land_id: int) -> set[str]:
    """The stored files the media of a land reference."""
    rows = Media.objects.of_land(land_id).filter(Q(thumbnail_key__isnull=False) | Q(original_key__isnull=False))
    keys: set[str] = set()
    for thumbnail, original in rows.values_list("thumbnail_key", "original_key").distinct():
        keys.update(key for key in (thumbnail, original) if key)
    return keys


def delete_unreferenced(keys: Iterable[str]) -> int:
    """Remove those of ``keys`` no media references; the number removed."""
    wanted = [key for key in dict.fromkeys(keys) if stored.is_stored_key(key)]
    kept = referenced_keys(wanted)
    removed = 0
    for key in wanted:
        if key in kept:
            continue
        try:
            stored.delete_file(key)
            removed += 1
        except Exception:
            logger.exception("could not remove the stored file %s", key)
    return removed


def forget_land_files(land_id: int) -> None:
    """Once the deletion of a land commits, remove the files only its media referenced.

    Called before the land's rows go (they name the files). A file another
    land's media reference stays; one an analysis writes for another media
    while this runs may go, and is made again by ``archive_originals
    --thumbnails`` (collect_orphan_files, with its grace period, never races).
    """
    keys = land_file_keys(land_id)
    if keys:
        transaction.on_commit(lambda: delete_unreferenced(keys))


# --- Orphans -------------------------------------------------------------------------------------


@dataclass
class OrphanReport:
    listed: int = 0
    referenced: int = 0
    young: int = 0  # unreferenced, but within the grace period: perhaps an analysis's row not written yet
    removed: int = 0
    removed_keys: list[str] = field(default_factory=list)

    def lines(self, dry_run: bool) -> list[str]:
        verb = "would remove" if dry_run else "removed"
        return [
            f"{self.listed} files listed, {self.referenced} referenced, {self.young} unreferenced but recent, "
            f"{verb} {self.removed}."
        ]


def _batches(keys: Iterator[str], size: int) -> Iterator[list[str]]:
    part: list[str] = []
    for key in keys:
        part.append(key)
        if len(part) >= size:
            yield part
            part = []
    if part:
        yield part


def collect_orphans(
    *, dry_run: bool = False, grace: timedelta | None = None, on_key: Callable[[str], None] | None = None
) -> OrphanReport:
    """Remove every stored file no media references and older than the grace period.

    The grace period (``MEDIA_ANALYSIS_ORPHAN_GRACE_HOURS`` by default) keeps
    what an analysis running now has stored and not yet recorded on its row. A
    file whose age the storage cannot tell is kept.
    """
    if grace is None:
        grace = timedelta(hours=settings.MEDIA_ANALYSIS_ORPHAN_GRACE_HOURS)
    cutoff = timezone.now() - grace
    report = OrphanReport()
    for prefix in stored.STORED_PREFIXES:
        for part in _batches(stored.stored_keys(prefix), KEY_BATCH):
            report.listed += len(part)
            kept = referenced_keys(part)
            report.referenced += len(kept)
            for key in part:
                if key in kept:
                    continue
                written = stored.modified_at(key)
                if written is None or _aware(written) > cutoff:
                    report.young += 1
                    continue
                if not dry_run:
                    stored.delete_file(key)
                report.removed += 1
                report.removed_keys.append(key)
                if on_key is not None:
                    on_key(key)
    return report


def _aware(value: datetime) -> datetime:
    return value if timezone.is_aware(value) else timezone.make_aware(value, timezone.get_default_timezone())


# --- Archiving a land's originals afterwards -----------------------------------------------------


@dataclass
class ArchiveReport:
    media: int = 0
    archived: int = 0  # originals stored now (or found stored for the same bytes)
    already: int = 0  # media that had their original
    thumbnails: int = 0  # missing thumbnails made
    too_large: int = 0
    mismatched: int = 0  # the bytes served now are not those analysed
    failed: int = 0
    mismatches: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [
            f"{self.media} media: {self.archived} originals archived, {self.already} already archived, "
            f"{self.thumbnails} thumbnails made, {self.mismatched} changed since their analysis, "
            f"{self.too_large} too large to archive, {self.failed} failed.",
            *self.mismatches,
        ]


@dataclass
class _Content:
    """One analysed content of the land (its SHA-256), the media holding it, and what they lack."""

    sha256: str
    mime_type: str | None
    urls: list[str]
    media_ids: list[int]
    need_original: bool
    need_thumbnail: bool
    outcome: str = ""
    note: str = ""
    original_key: str | None = None
    thumbnail_key: str | None = None


def archivable_media(land_id: int) -> MediaQuerySet:
    """The land's images whose values come from our analysis of known bytes (their SHA-256)."""
    return (
        Media.objects.of_land(land_id)
        .filter(type=MediaType.IMAGE, analysis_version__gt=0, image_hash__isnull=False)
        .exclude(image_hash="")
    )


def _contents(land_id: int, *, originals: bool, thumbnails: bool) -> list[_Content]:
    by_sha: dict[str, _Content] = {}
    rows = archivable_media(land_id).values_list(
        "pk", "url", "image_hash", "mime_type", "original_key", "thumbnail_key"
    )
    for pk, url, sha, mime, original, thumbnail in rows.order_by("pk"):
        if not sha:
            continue
        content = by_sha.get(sha)
        if content is None:
            content = by_sha[sha] = _Content(sha, mime, [], [], False, False)
        content.media_ids.append(pk)
        if url not in content.urls:
            content.urls.append(url)
        content.need_original |= originals and not original
        content.need_thumbnail |= thumbnails and not thumbnail
    return list(by_sha.values())


def archive_land(
    land_id: int,
    *,
    originals: bool = True,
    thumbnails: bool = False,
    concurrency: int = 4,
    on_progress: Callable[[int, int], None] | None = None,
) -> ArchiveReport:
    """Archive the originals (and with ``thumbnails`` make the missing thumbnails) of a land's analysed images.

    Each content is downloaded once, from the first of its URLs that serves it,
    through the analysis's fetch path, and kept only when its SHA-256 is the one
    analysed; otherwise the mismatch is reported and nothing is written. An
    original already in the storage (archived for another media) is not
    downloaded again. Idempotent: media holding their files are left alone.
    """
    contents = _contents(land_id, originals=originals, thumbnails=thumbnails)
    report = ArchiveReport(media=sum(len(c.media_ids) for c in contents))
    todo = [c for c in contents if c.need_original or c.need_thumbnail]
    report.already = sum(len(c.media_ids) for c in contents if originals and not c.need_original)
    policy = media_batch.download_policy()
    session = media_batch.shared_session(policy)
    options = media_batch.analysis_options()
    done = 0
    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        for content in pool.map(lambda c: _settle(c, session, policy, options), todo):
            _record(content, report)
            done += 1
            if on_progress is not None:
                on_progress(done, len(todo))
    return report


def _settle(content: _Content, session, policy, options) -> _Content:
    """Find the bytes of ``content`` (archived already, or downloaded and checked), then store what it lacks."""
    try:
        if content.need_original:
            key = stored.original_key(content.sha256, content.mime_type)
            if stored.media_storage().exists(key):
                content.original_key = key  # archived for another media: nothing to download for it
        data: bytes | None = None
        if content.need_thumbnail or (content.need_original and content.original_key is None):
            data = _stored_original(content) or _download_checked(content, session, policy)
            if data is None:
                return content
        if data is not None and content.need_original and content.original_key is None:
            if len(data) > settings.MEDIA_ANALYSIS_ARCHIVE_MAX_BYTES:
                content.outcome = "too_large"
            else:
                content.original_key = stored.save_original(data, content.mime_type, sha256=content.sha256)
        if data is not None and content.need_thumbnail and options.thumbnail_size > 0:
            # The whole analysis, within its caps and time limit: these bytes are as untrusted as ever.
            with media_batch.decode_budget().hold(analysis_memory(data, options)):
                result = analyse_image(data, options)
            if result.thumbnail is not None:
                content.thumbnail_key = stored.save_thumbnail(
                    content.sha256,
                    result.thumbnail.data,
                    size=options.thumbnail_size,
                    extension=result.thumbnail.extension,
                )
        content.outcome = content.outcome or "archived"
    except MediaFailure as failure:
        content.outcome, content.note = "failed", f"{failure.error_class}: {failure}"
    except Exception as exc:
        logger.exception("archiving the content %s failed", content.sha256)
        content.outcome, content.note = "failed", f"{type(exc).__name__}: {exc}"
    return content


def _stored_original(content: _Content) -> bytes | None:
    key = stored.original_key(content.sha256, content.mime_type)
    storage = stored.media_storage()
    if not storage.exists(key):
        return None
    with storage.open(key) as handle:
        data = handle.read()
    return data if hashlib.sha256(data).hexdigest() == content.sha256 else None


def _download_checked(content: _Content, session, policy) -> bytes | None:
    """The bytes analysed, from the first URL serving them; None (and the reason on ``content``) otherwise."""
    notes = []
    for url in content.urls:
        try:
            check_robots(robots_cache(), url)
            data = download(session, url, policy).content
        except MediaFailure as failure:
            notes.append(f"{url}: {failure.error_class}")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest == content.sha256:
            return data
        notes.append(f"{url}: now SHA-256 {digest}, analysed {content.sha256}")
        content.outcome = "mismatched"
    content.outcome = content.outcome or "failed"
    content.note = "; ".join(notes)
    return None


def _record(content: _Content, report: ArchiveReport) -> None:
    # Only rows still holding the values of these bytes, and lacking the file, get its key.
    rows = Media.objects.filter(pk__in=content.media_ids, image_hash=content.sha256)
    if content.thumbnail_key:
        report.thumbnails += rows.filter(thumbnail_key__isnull=True).update(thumbnail_key=content.thumbnail_key)
    count = len(content.media_ids)
    if content.need_original and content.original_key:
        report.archived += rows.filter(original_key__isnull=True).update(original_key=content.original_key)
    elif content.outcome == "too_large":
        report.too_large += count
    elif content.outcome == "mismatched":
        report.mismatched += count
        report.mismatches.append(f"changed since analysed: media {content.media_ids[:5]} ({content.note})")
    elif content.outcome == "failed":
        report.failed += count
        report.mismatches.append(f"failed: media {content.media_ids[:5]} ({content.note})")
