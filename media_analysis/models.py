"""Analysis jobs: a job is a database row, and that row is the truth.

The API, the admin and the live page read it; Huey tasks update it with F()
counters; the WebSocket only tells clients that it changed.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import models
from django.db.models import F, Func, Q, Value
from django.utils import timezone

from media_analysis.engine.text.words import phrase_pattern
from media_analysis.engine.version import TEXT_VERSION

RECENT_FAILURES_KEPT = 20


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_JOB_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)
FINISHED_JOB_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


class AnalysisJob(models.Model):
    land = models.ForeignKey("lands.Land", on_delete=models.CASCADE, related_name="analysis_jobs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Parameters (see docs/MEDIA_ANALYSIS_GUIDE.md for their exact semantics).
    depth = models.IntegerField(null=True, blank=True)
    minrel = models.IntegerField(null=True, blank=True)
    media_types = models.JSONField(default=list)
    force = models.BooleanField(default=False)
    retry_failed = models.BooleanField(default=False)
    media_ids = models.JSONField(null=True, blank=True, help_text="Explicit selection (admin action on media)")
    ocr = models.BooleanField(default=False, help_text="Also read the text in pictures (OCR)")

    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.PENDING, db_index=True)
    total = models.IntegerField(default=0)
    analysed = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    # Re-checked with a conditional request and not modified: the stored values stay.
    unchanged = models.IntegerField(default=0)
    # Downloaded bytes already analysed by the current version (same SHA-256): values copied, not decoded again.
    reused = models.IntegerField(default=0)
    chunks_total = models.IntegerField(default=0)
    chunks_done = models.IntegerField(default=0)
    error = models.TextField(blank=True, default="")
    recent_failures = models.JSONField(default=list, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # Set once every chunk task is in the queue: from then on a chunk that is
    # neither queued nor claimed can only have been lost with a dead worker.
    chunks_enqueued_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("run_analysis", "Can start and cancel media analysis jobs")]
        constraints = [
            models.UniqueConstraint(
                fields=["land"],
                condition=Q(status__in=["pending", "running"]),
                name="one_active_job_per_land",
            )
        ]

    def __str__(self) -> str:
        return f"Job {self.pk} on {self.land_id} ({self.status})"

    @property
    def processed(self) -> int:
        return self.analysed + self.reused + self.unchanged + self.failed + self.skipped

    @property
    def progress(self) -> float:
        if self.status == JobStatus.COMPLETED:
            return 100.0
        if not self.total:
            return 0.0
        return round(min(100.0, 100.0 * self.processed / self.total), 1)

    @property
    def success_rate(self) -> float | None:
        """Attempts that ended with current values: analysed, reused by content, or confirmed unchanged by a 304."""
        succeeded = self.analysed + self.reused + self.unchanged
        attempted = succeeded + self.failed
        if not attempted:
            return None
        return round(100.0 * succeeded / attempted, 1)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES

    @property
    def duration(self) -> timedelta | None:
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return end - self.started_at

    @property
    def duration_seconds(self) -> float | None:
        duration = self.duration
        return round(duration.total_seconds(), 3) if duration is not None else None

    @property
    def throughput(self) -> float | None:
        """Media processed per second since the job started."""
        seconds = self.duration_seconds
        if not seconds:
            return None
        return round(self.processed / seconds, 2)

    @property
    def eta_seconds(self) -> float | None:
        rate = self.throughput
        if not rate or not self.is_active:
            return None
        return round(max(0, self.total - self.processed) / rate, 1)


class ChunkStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"


class JobChunk(models.Model):
    """A slice of a job's media; processing one is idempotent (see tasks)."""

    job = models.ForeignKey(AnalysisJob, on_delete=models.CASCADE, related_name="chunks")
    index = models.IntegerField()
    media_ids = models.JSONField()
    status = models.CharField(max_length=10, choices=ChunkStatus.choices, default=ChunkStatus.PENDING)
    analysed = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    skipped = models.IntegerField(default=0)
    # Re-checked with a conditional request and not modified: the stored values stay.
    unchanged = models.IntegerField(default=0)
    # Downloaded bytes already analysed by the current version (same SHA-256): values copied, not decoded again.
    reused = models.IntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Who is working on it ("host:pid") and since when: lets a restarted
    # consumer tell a chunk lost with a killed worker from one still running.
    claimed_by = models.CharField(max_length=255, blank=True, default="")
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="jobchunk_unique_index")]

    def __str__(self) -> str:
        return f"Chunk {self.index} of job {self.job_id} ({self.status})"


# --- Near-duplicate clusters --------------------------------------------------
# The rules are media_analysis.engine.duplicates'; media_analysis.clusters keeps these
# rows in step with them.


class ImageCluster(models.Model):
    """Two or more images of one land that are the same picture (a lone image has no row).

    The row id is the cluster's stable identifier: a recomputation keeps the row of
    each old cluster whose members mostly stay together. The figures are denormalised
    from the members so that lists can be sorted by spread without aggregating.
    """

    land = models.ForeignKey("lands.Land", on_delete=models.CASCADE, related_name="image_clusters")
    key = models.BigIntegerField(help_text="Smallest member media id (the clustering's label); follows membership")
    representative = models.ForeignKey(
        "lands.Media",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Largest member in pixels, then in bytes, then the first seen",
    )
    size = models.IntegerField(default=0, help_text="Member media rows")
    distinct_domains = models.IntegerField(default=0)
    distinct_pages = models.IntegerField(default=0)
    first_seen_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Earliest appearance: each page's published_at, else fetched_at, else created_at",
    )
    first_expression = models.ForeignKey(
        "lands.Expression", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    first_domain = models.ForeignKey("lands.Domain", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["land", "-distinct_domains", "-size", "id"]
        indexes = [
            models.Index(fields=["land", "-distinct_domains", "-size", "id"], name="cluster_land_spread"),
            models.Index(fields=["land", "-size", "id"], name="cluster_land_size"),
            models.Index(fields=["land", "first_seen_at", "id"], name="cluster_land_first_seen"),
            models.Index(fields=["land", "key"], name="cluster_land_key"),
        ]

    def __str__(self) -> str:
        return f"Cluster {self.pk} ({self.size} images, {self.distinct_domains} domains)"


class ClusterLinkKind(models.TextChoices):
    MUST = "must", "Same picture (merge)"
    CANNOT = "cannot", "Different pictures (split)"


class ClusterLink(models.Model):
    """A researcher's correction, replayed on every recomputation.

    A pair is stored once, smaller media id first; a newer decision on the same pair
    replaces the older one.
    """

    land = models.ForeignKey("lands.Land", on_delete=models.CASCADE, related_name="cluster_links")
    media_a = models.ForeignKey("lands.Media", on_delete=models.CASCADE, related_name="+")
    media_b = models.ForeignKey("lands.Media", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=6, choices=ClusterLinkKind.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["land", "media_a", "media_b"]
        constraints = [
            models.UniqueConstraint(fields=["media_a", "media_b"], name="clusterlink_unique_pair"),
            models.CheckConstraint(condition=Q(media_a__lt=models.F("media_b")), name="clusterlink_ordered_pair"),
        ]
        indexes = [models.Index(fields=["land", "kind"], name="clusterlink_land_kind")]

    def __str__(self) -> str:
        return f"{self.media_a_id} {self.kind} {self.media_b_id}"


class ClusterCorrectionKind(models.TextChoices):
    MERGE = "merge", "Merge"
    SPLIT = "split", "Split"
    UNDO = "undo", "Undo"


class ClusterCorrection(models.Model):
    """One merge, split or undo as the researcher made it: what an undo needs to restore.

    The links a correction wrote (``added``) and the links it replaced or withdrew
    (``removed``) are kept as ``[media_a, media_b, kind]`` triples; undoing it deletes
    the first and writes the second back. ``members`` are the media of the clusters it
    changed, as they were: the page shows them, and they tell which later corrections
    touch the same images.
    """

    land = models.ForeignKey("lands.Land", on_delete=models.CASCADE, related_name="cluster_corrections")
    kind = models.CharField(max_length=5, choices=ClusterCorrectionKind.choices)
    undoes = models.OneToOneField("self", on_delete=models.CASCADE, null=True, blank=True, related_name="undone_by")
    source_clusters = models.JSONField(default=list, blank=True, help_text="Cluster ids before the correction")
    result_clusters = models.JSONField(default=list, blank=True, help_text="Cluster ids of the members after it")
    members = models.JSONField(default=list, blank=True, help_text="Media ids of the changed clusters, before")
    detached = models.JSONField(default=list, blank=True, help_text="A split's detached media ids")
    added = models.JSONField(default=list, blank=True)
    removed = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["land", "-id"], name="clustercorrection_land")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk} of land {self.land_id}"


class LandClustering(models.Model):
    """When a land was last clustered, and with which parameters.

    The start of the last run is the watermark of the next incremental one: media
    analysed since then (minus a margin, see media_analysis.clusters) are the new ones.
    """

    land = models.OneToOneField("lands.Land", on_delete=models.CASCADE, related_name="clustering")
    params = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    mode = models.CharField(max_length=20, blank=True, default="")
    seconds = models.FloatField(null=True, blank=True)
    images = models.IntegerField(default=0, help_text="Hashed images considered")
    clusters = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"Clustering of land {self.land_id}"


API_TOKEN_PREFIX = "mda_"
# Seen once, a token's last use is written again only after this long: not one write per request.
API_TOKEN_USE_RESOLUTION = timedelta(minutes=1)


class ApiToken(models.Model):
    """A user's key to the REST API, stored as its SHA-256 digest: shown once at creation, never readable again.

    The key is 32 random bytes, so a plain digest is enough (no slow password hash: nothing to guess from).
    The first characters are kept in clear to tell a user's tokens apart.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, default="", help_text="What the token is for")
    digest = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=12, editable=False, help_text="The key's first characters")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @staticmethod
    def digest_of(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, user, name: str = "") -> tuple[ApiToken, str]:
        """A new token for ``user`` and its key, which exists nowhere else once the caller drops it."""
        key = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(user=user, name=name.strip()[:100], digest=cls.digest_of(key), prefix=key[:8])
        return token, key

    @classmethod
    def find(cls, key: str) -> ApiToken | None:
        return cls.objects.select_related("user").filter(digest=cls.digest_of(key)).first()

    def note_use(self) -> None:
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at >= API_TOKEN_USE_RESOLUTION:
            ApiToken.objects.filter(pk=self.pk).update(last_used_at=now)
            self.last_used_at = now


# --- Text in pictures (OCR) ---------------------------------------------------
# Written only by the OCR step of a job (media_analysis.jobs); read by search,
# the land page, the cluster pages and the exports.


class TextStatus(models.TextChoices):
    TEXT = "text", "Text found"
    EMPTY = "empty", "Recognised, no text"
    SKIPPED = "skipped", "No text likely (not recognised)"
    FAILED = "failed", "Recognition failed"


# The document PostgreSQL's full-text search reads: the index of migration
# "text_search_words_index" is built on this very expression, so a filter on it uses the index.
# The "simple" configuration lower-cases and stems nothing: a caption mixes languages,
# and a search for a word finds that word.
TEXT_SEARCH_CONFIG = "simple"
# The parser reads the text with every character that is not a letter or a digit made a space: it then finds
# the words of the word rule (engine.text.words), those SQLite searches, where it would read "www.example.org",
# "3.14" or "red.car" as one word.
TEXT_WORDS = Func(
    F("text"), Value(r"(\W|_)+"), Value(" "), Value("g"), function="regexp_replace", output_field=models.TextField()
)
TEXT_DOCUMENT = SearchVector(TEXT_WORDS, config=TEXT_SEARCH_CONFIG)


class MediaTextQuerySet(models.QuerySet["MediaText"]):
    def current(self) -> MediaTextQuerySet:
        """Readings made by this version of the OCR step (older ones are read again by a job with OCR)."""
        return self.filter(version__gte=TEXT_VERSION)

    def with_text(self) -> MediaTextQuerySet:
        """Texts the recognition found (not empty, skipped or failed)."""
        return self.filter(status=TextStatus.TEXT)

    def matching_all(self, words: Iterable[str]) -> MediaTextQuerySet:
        """PostgreSQL only: the texts holding every one of ``words``, through the full-text index."""
        query = SearchQuery(" ".join(words), config=TEXT_SEARCH_CONFIG, search_type="plain")
        return self.annotate(document=TEXT_DOCUMENT).filter(document=query)

    def holding_phrase(self, phrase: Sequence[str]) -> MediaTextQuerySet:
        """The texts holding ``phrase`` (runs of letters or digits) as consecutive runs of one line, any case.

        One pattern (``engine.text.words.phrase_pattern``) read by PostgreSQL's regular
        expressions or Python's (Django's ``REGEXP`` on SQLite): the same answer on both.
        It reads each text, so it narrows texts already found from their words.
        """
        return self.filter(text__iregex=phrase_pattern(phrase))


class MediaWordQuerySet(models.QuerySet["MediaWord"]):
    def of_word(self, word: str) -> MediaWordQuerySet:
        """The rows of one normalised word (the (word, media) index serves it)."""
        return self.filter(word=word)


class MediaText(models.Model):
    """What the OCR step read in one picture: the outcome of its latest OCR attempt.

    One row per media that went through the step; media that never did have none.
    """

    media = models.OneToOneField("lands.Media", on_delete=models.CASCADE, primary_key=True, related_name="ocr")
    status = models.CharField(max_length=10, choices=TextStatus.choices, db_index=True)
    text = models.TextField(blank=True, default="", help_text="Recognised text, lines kept")
    language = models.CharField(
        max_length=16, blank=True, default="", help_text="Language told from the text (ISO 639-3), empty when unknown"
    )
    confidence = models.FloatField(null=True, blank=True, help_text="Mean word confidence, 0 to 100")
    text_area = models.FloatField(null=True, blank=True, help_text="Share of the picture's area in word boxes, 0 to 1")
    likelihood = models.FloatField(null=True, blank=True, help_text="Score of the cheap text-likelihood test")
    test_ms = models.FloatField(null=True, blank=True, help_text="Time of the likelihood test")
    recognise_ms = models.FloatField(null=True, blank=True, help_text="Time of the recognition (empty when skipped)")
    engine = models.CharField(max_length=100, blank=True, default="", help_text="Engine, version and languages")
    error = models.TextField(blank=True, default="")
    version = models.PositiveSmallIntegerField(
        help_text="Version of the OCR step that read it (TEXT_VERSION); older readings are read again by a job with OCR"
    )
    recognised_at = models.DateTimeField(default=timezone.now)

    objects = MediaTextQuerySet.as_manager()

    class Meta:
        verbose_name = "text in a picture"
        verbose_name_plural = "texts in pictures"

    def __str__(self) -> str:
        return f"Text of media {self.media_id} ({self.status})"

    @property
    def is_current(self) -> bool:
        """Read by this version of the OCR step (``MediaTextQuerySet.current``'s rule, for one row)."""
        return self.version >= TEXT_VERSION


class MediaWord(models.Model):
    """A normalised word of a picture's text and how often it occurs there.

    Kept in step with ``MediaText.text`` by the OCR step: the base of word search on
    every database, of a land's frequent words and of the text exports.
    """

    media = models.ForeignKey("lands.Media", on_delete=models.CASCADE, related_name="ocr_words")
    word = models.CharField(max_length=64)
    count = models.IntegerField(default=1)

    objects = MediaWordQuerySet.as_manager()

    class Meta:
        ordering = ["media", "word"]
        constraints = [models.UniqueConstraint(fields=["media", "word"], name="mediaword_unique")]
        indexes = [models.Index(fields=["word", "media"], name="mediaword_word_media")]

    def __str__(self) -> str:
        return f"{self.word} x{self.count} in media {self.media_id}"
