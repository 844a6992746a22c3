"""Corpus models: the crawler's data (MyWebIntelligence lands) and its media.

Field names follow the crawler's schema so real lands come in unchanged; the
analysis fields of ``Media`` extend it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone


class Land(models.Model):
    name = models.CharField(max_length=255, unique=True)
    description = models.TextField(blank=True, default="")
    lang = models.CharField(max_length=100, blank=True, default="", help_text="Comma-separated language codes")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def languages(self) -> list[str]:
        return [code.strip() for code in self.lang.split(",") if code.strip()]


class LandAggregates(models.Model):
    """A land's counts and chart figures, stored so that no page recounts a land of a million media.

    Written only by ``lands.aggregates`` (at the end of a job, of an import, or
    lazily for a land that has none yet); ``refreshed_at`` says how recent they are.
    """

    land = models.OneToOneField(Land, on_delete=models.CASCADE, primary_key=True, related_name="aggregates")
    expression_count = models.IntegerField(default=0)
    media_count = models.IntegerField(default=0)
    analysed_count = models.IntegerField(default=0, help_text="Media whose latest analysis succeeded")
    failed_count = models.IntegerField(default=0, help_text="Media whose latest analysis failed")
    pending_count = models.IntegerField(default=0, help_text="Media not analysed yet")
    figures = models.JSONField(null=True, blank=True, help_text="Chart data; empty until first computed")
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "land aggregates"

    def __str__(self) -> str:
        return f"aggregates of land {self.land_id}"


class Domain(models.Model):
    name = models.CharField(max_length=255, unique=True)
    http_status = models.CharField(max_length=3, null=True, blank=True)
    title = models.TextField(null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    keywords = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    fetched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ExpressionQuerySet(models.QuerySet["Expression"]):
    def selected(self, depth: int | None = None, minrel: int | None = None) -> ExpressionQuerySet:
        """Pages selected by depth and relevance (see ``Expression.selection``)."""
        return self.filter(Expression.selection(depth, minrel))


class Expression(models.Model):
    """A crawled page of a land."""

    land = models.ForeignKey(Land, on_delete=models.CASCADE, related_name="expressions")
    domain = models.ForeignKey(Domain, on_delete=models.PROTECT, related_name="expressions")
    url = models.TextField()
    http_status = models.CharField(max_length=3, null=True, blank=True)
    lang = models.CharField(max_length=100, null=True, blank=True)
    title = models.TextField(null=True, blank=True)
    description = models.TextField(null=True, blank=True)
    keywords = models.TextField(null=True, blank=True)
    readable = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)
    fetched_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    readable_at = models.DateTimeField(null=True, blank=True)
    relevance = models.IntegerField(null=True, blank=True)
    depth = models.IntegerField(null=True, blank=True)

    objects = ExpressionQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["land", "depth"], name="expression_land_depth"),
            models.Index(fields=["land", "relevance"], name="expression_land_relevance"),
            models.Index(fields=["land", "http_status"], name="expression_land_status"),
        ]

    def __str__(self) -> str:
        return self.url

    @staticmethod
    def selection(depth: int | None = None, minrel: int | None = None, prefix: str = "") -> Q:
        """The pages a job, an export or a filter selects, as the crawler's ``--depth`` and ``--minrel`` do.

        ``depth`` given: pages whose depth is known and <= ``depth`` (0 is the
        seed pages only). ``minrel`` given: pages whose relevance is known and
        >= ``minrel`` (a page never scored is left out). Neither: every page.
        ``prefix`` is the path from the queried model to the page, such as
        ``"expression__"`` from a media.
        """
        q = Q()
        if depth is not None:
            q &= Q(**{f"{prefix}depth__lte": depth})
        if minrel is not None:
            q &= Q(**{f"{prefix}relevance__gte": minrel})
        return q

    @staticmethod
    def is_selected(
        page_depth: int | None, page_relevance: int | None, depth: int | None = None, minrel: int | None = None
    ) -> bool:
        """``selection`` applied to the depth and relevance of a page already fetched."""
        if depth is not None and (page_depth is None or page_depth > depth):
            return False
        return minrel is None or (page_relevance is not None and page_relevance >= minrel)


class ExpressionLink(models.Model):
    source = models.ForeignKey(Expression, on_delete=models.CASCADE, related_name="links_out")
    target = models.ForeignKey(Expression, on_delete=models.CASCADE, related_name="links_in")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "target"], name="expressionlink_unique")]

    def __str__(self) -> str:
        return f"{self.source_id} -> {self.target_id}"


class Tag(models.Model):
    land = models.ForeignKey(Land, on_delete=models.CASCADE, related_name="tags")
    parent = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="children")
    name = models.CharField(max_length=255)
    sorting = models.IntegerField(default=0)
    color = models.CharField(max_length=20, blank=True, default="")

    class Meta:
        ordering = ["land", "sorting", "name"]

    def __str__(self) -> str:
        return self.name


class TaggedContent(models.Model):
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="contents")
    expression = models.ForeignKey(Expression, on_delete=models.CASCADE, related_name="tagged_contents")
    text = models.TextField(blank=True, default="")
    from_char = models.IntegerField(default=0)
    to_char = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.tag} on {self.expression_id}"


class MediaType(models.TextChoices):
    # The crawler's spelling, kept so imported lands and exports match it.
    IMAGE = "img", "Image"
    VIDEO = "video", "Video"
    AUDIO = "audio", "Audio"


# The largest values the id columns (64-bit) and the depth and relevance columns (32-bit) hold:
# validators bound user parameters by them, since a larger number could only overflow a query.
ID_MAX = BaseDatabaseOperations.integer_field_ranges["BigIntegerField"][1]
PAGE_NUMBER_MAX = BaseDatabaseOperations.integer_field_ranges["IntegerField"][1]


class AnalysisStatus(models.TextChoices):
    """The outcome of a media's latest analysis attempt (never of an earlier one)."""

    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


# The analysis version of values imported from the crawler. It is the engine's
# ``CRAWLER_VERSION`` (media_analysis.engine.version); lands' core imports no other
# app, so it is repeated here and a test keeps the two equal.
CRAWLER_ANALYSIS_VERSION = 0


class MediaQuerySet(models.QuerySet["Media"]):
    def of_land(self, land_id: int) -> MediaQuerySet:
        return self.filter(expression__land_id=land_id)

    def of_land_by_id(self, land_id: int, dense: bool) -> MediaQuerySet:
        """``of_land`` for reading in id order a page at a time (see ``Media.in_land``)."""
        return self.filter(Media.in_land(land_id, dense))

    def on_selected_pages(self, depth: int | None = None, minrel: int | None = None) -> MediaQuerySet:
        """Media of the pages ``Expression.selection`` selects."""
        return self.filter(Expression.selection(depth, minrel, prefix="expression__"))

    def needing_analysis(self, current_version: int, retry_failed: bool = False) -> MediaQuerySet:
        """What a job without ``force`` takes (see ``Media.needs_analysis``)."""
        return self.filter(Media.needs_analysis(current_version, retry_failed))

    def with_earlier_values(self) -> MediaQuerySet:
        """Media whose latest attempt did not succeed but which keep values of an earlier one."""
        return self.filter(Media.holds_earlier_values())

    def analysed_with_content(self, sha256s: Iterable[str], current_version: int) -> MediaQuerySet:
        """Images whose latest attempt succeeded with ``current_version`` on bytes of one of these SHA-256s.

        Their values are those an analysis of the same bytes would compute now,
        whichever land, job or URL they came from: a download with this content
        copies them instead of decoding again.
        """
        return self.filter(
            type=MediaType.IMAGE,
            image_hash__in=list(sha256s),
            analysis_status=AnalysisStatus.DONE,
            analysis_version=current_version,
        )

    def status_counts(self) -> dict[str, int]:
        """Counts by analysis status in one query."""
        row = self.aggregate(
            total=Count("id"),
            **{status: Count("id", filter=Q(analysis_status=status)) for status in AnalysisStatus.values},
        )
        return row


class Media(models.Model):
    expression = models.ForeignKey(Expression, on_delete=models.CASCADE, related_name="medias")
    url = models.TextField(help_text="As found on the page; case preserved")
    type = models.CharField(max_length=10, choices=MediaType.choices, default=MediaType.IMAGE)

    # The crawler's analysis fields.
    width = models.IntegerField(null=True, blank=True)
    height = models.IntegerField(null=True, blank=True)
    file_size = models.BigIntegerField(null=True, blank=True)
    format = models.CharField(max_length=20, null=True, blank=True)
    color_mode = models.CharField(max_length=20, null=True, blank=True)
    has_transparency = models.BooleanField(null=True, blank=True)
    aspect_ratio = models.FloatField(null=True, blank=True)
    dominant_colors = models.JSONField(null=True, blank=True)
    websafe_colors = models.JSONField(null=True, blank=True)
    exif_data = models.JSONField(null=True, blank=True)
    image_hash = models.CharField(max_length=64, null=True, blank=True, db_index=True, help_text="SHA-256 of the bytes")
    content_tags = models.JSONField(null=True, blank=True)
    nsfw_score = models.FloatField(null=True, blank=True)
    analyzed_at = models.DateTimeField(null=True, blank=True, help_text="When the latest attempt ended")
    analysis_error = models.TextField(null=True, blank=True)

    # medianalyse's own.
    mime_type = models.CharField(max_length=100, null=True, blank=True)
    analysis_status = models.CharField(
        max_length=10, choices=AnalysisStatus.choices, default=AnalysisStatus.PENDING, db_index=True
    )
    is_processed = models.BooleanField(default=False, help_text="True once an analysis attempt has ended")
    error_class = models.CharField(max_length=40, null=True, blank=True, db_index=True)
    frames = models.IntegerField(null=True, blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds (video and audio)")
    phash = models.CharField(max_length=16, null=True, blank=True, db_index=True)
    dhash = models.CharField(max_length=16, null=True, blank=True, db_index=True)
    ahash = models.CharField(max_length=16, null=True, blank=True, db_index=True)
    colorhash = models.CharField(max_length=32, null=True, blank=True, db_index=True)
    # pHash and dHash of regions of the picture after trimming a plain frame, to recognise
    # framed and cropped copies (media_analysis/engine/image/regions.py); hex, not imagehash's.
    region_hashes = models.CharField(max_length=1000, null=True, blank=True)
    is_conforming = models.BooleanField(null=True, blank=True)
    conformity_reason = models.CharField(max_length=255, null=True, blank=True)
    exif_make = models.CharField(max_length=255, null=True, blank=True)
    exif_model = models.CharField(max_length=255, null=True, blank=True)
    exif_datetime = models.CharField(max_length=64, null=True, blank=True)
    gps_latitude = models.FloatField(null=True, blank=True)
    gps_longitude = models.FloatField(null=True, blank=True)
    attempts = models.IntegerField(default=0)
    # Which analysis computed the stored values, and when: an attempt that fails
    # leaves both (and the values) as the last success wrote them.
    analysis_version = models.IntegerField(
        null=True,
        blank=True,
        help_text="Analysis that computed the stored values (0: the crawler's, imported); empty when none",
    )
    values_at = models.DateTimeField(null=True, blank=True, help_text="When the stored values were computed")
    # The validators of the response whose bytes the stored values come from,
    # as the server sent them: a re-analysis sends them back, and a 304 keeps
    # the values. Written only with a successful analysis (or refreshed by a
    # 304). The length is media_analysis.engine.fetch's MAX_VALIDATOR_LENGTH.
    http_etag = models.CharField(max_length=255, null=True, blank=True, help_text="ETag of the analysed response")
    http_last_modified = models.CharField(
        max_length=255, null=True, blank=True, help_text="Last-Modified of the analysed response, as sent"
    )
    checked_at = models.DateTimeField(
        null=True, blank=True, help_text="When a 304 (not modified) last confirmed the stored values"
    )
    # How long the site took to answer the latest request, so that the next job's plan starts the slowest
    # URLs first (media_analysis/jobs/service.py). Kept coarse (batch.response_class) so that a chunk's 304s
    # still share a few UPDATEs.
    response_seconds = models.FloatField(
        null=True,
        blank=True,
        help_text="How long the latest request took (seconds, rounded up to 1, 2 or 5 times a power of ten)",
    )
    # Key of the preview kept by the analysis in the "medianalyse" storage (media_analysis.stored);
    # shown instead of the crawled URL. Like the values, kept when a later attempt fails.
    thumbnail_key = models.CharField(
        max_length=200, null=True, blank=True, help_text="Stored thumbnail (key in the medianalyse storage)"
    )
    # Key of the original bytes kept in the same storage (MEDIA_ANALYSIS_ARCHIVE_ORIGINALS, or the
    # archive_originals command); their SHA-256 is ``image_hash``. Kept when a later attempt fails.
    original_key = models.CharField(
        max_length=200, null=True, blank=True, help_text="Archived original file (key in the medianalyse storage)"
    )
    # A digest of the crawler's row this media was last imported from (lands/importer/media.py): importing
    # the file again skips a row whose digest is unchanged without reading its values again. Empty for media
    # not imported, or imported before the digest was kept (the next import compares their values).
    legacy_digest = models.CharField(
        max_length=16, null=True, blank=True, help_text="Digest of the crawler's row last imported into this media"
    )
    cluster = models.ForeignKey(
        "media_analysis.ImageCluster",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="members",
        help_text="Near-duplicate cluster (none for an image that has no near-duplicate)",
    )

    objects = MediaQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "media"
        constraints = [models.UniqueConstraint(fields=["expression", "url"], name="media_expression_url_unique")]
        indexes = [
            models.Index(fields=["type", "analysis_status"], name="media_type_status"),
            models.Index(fields=["format"], name="media_format"),
        ]

    def __str__(self) -> str:
        return self.url

    def set_status(self, status: str) -> None:
        """Keep ``is_processed`` (the API rewrite's flag) in step with the status."""
        self.analysis_status = status
        self.is_processed = status != AnalysisStatus.PENDING

    @staticmethod
    def needs_analysis(current_version: int, retry_failed: bool = False) -> Q:
        """The media a job takes without ``force``: never analysed, or analysed by an older version.

        ``pending`` media (never analysed, or imported without a real result),
        media whose latest attempt succeeded with an analysis older than
        ``current_version`` (or of unknown version), and with ``retry_failed``
        the media whose latest attempt failed.
        """
        q = Q(analysis_status=AnalysisStatus.PENDING) | (
            Q(analysis_status=AnalysisStatus.DONE)
            & (Q(analysis_version__lt=current_version) | Q(analysis_version__isnull=True))
        )
        if retry_failed:
            q |= Q(analysis_status=AnalysisStatus.FAILED)
        return q

    @staticmethod
    def in_land(land_id: int, dense: bool) -> Q | Exists:
        """The media of a land, as the condition of a list read in id order a page at a time.

        ``dense`` (the land holds a large share of all media): a probe of each media's page while the
        media are walked in id order, which stops once a page is full. Otherwise the join through the
        land's pages, whose cost follows the land's size: the walk would read the other lands' media.
        Joined, a dense land's pages were all read and sorted before the first row came out.
        """
        if dense:
            return Exists(Expression.objects.filter(pk=OuterRef("expression_id"), land_id=land_id))
        return Q(expression__land_id=land_id)

    @staticmethod
    def holds_earlier_values() -> Q:
        """``has_earlier_values`` as a filter."""
        return ~Q(analysis_status=AnalysisStatus.DONE) & Q(analysis_version__isnull=False)

    @property
    def holds_values(self) -> bool:
        """Whether analysis values are stored (ours or the crawler's)."""
        return self.analysis_version is not None

    @property
    def values_are_current(self) -> bool:
        """Whether the stored values are those of the latest attempt (which succeeded)."""
        return self.analysis_status == AnalysisStatus.DONE and self.holds_values

    @property
    def has_earlier_values(self) -> bool:
        """Values kept from an earlier success, while the latest attempt failed or none was trusted yet."""
        return self.analysis_status != AnalysisStatus.DONE and self.holds_values

    @property
    def values_note(self) -> str:
        """Where the stored values come from, in one line: the one wording of every display."""
        if not self.holds_values:
            return "no values"
        source = "the crawler's analysis" if self.analysis_version == CRAWLER_ANALYSIS_VERSION else "analysis"
        when = self.values_at.strftime("%Y-%m-%d %H:%M UTC") if self.values_at else "an unknown date"
        origin = f"values from {when} ({source}, version {self.analysis_version})"
        if self.checked_at:
            origin += f", unchanged at {self.checked_at.strftime('%Y-%m-%d %H:%M UTC')}"
        if self.analysis_status == AnalysisStatus.FAILED:
            return f"failed now; {origin}"
        if self.analysis_status == AnalysisStatus.PENDING:
            return f"not analysed here yet; {origin}"
        return origin

    @property
    def primary_color_hex(self) -> str | None:
        if self.dominant_colors:
            first = self.dominant_colors[0]
            return first.get("hex") if isinstance(first, dict) else None
        return None
