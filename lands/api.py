"""Read API for the corpus: lands, their expressions (pages) and media.

Each list needs the view (or change) permission of its model, as the admin's own list does
(media_analysis.web.permissions).

Lists are filtered by query parameters validated with small serializers, so a
bad value is a 400 that names the parameter, never a 500. Every list costs a
fixed number of queries whatever the page size (a land's counts are its stored
aggregates, related rows come from joins).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.negotiation import DefaultContentNegotiation

from lands.aggregates import COUNT_FIELDS, ensure_land_counts, is_dense_land
from lands.models import ID_MAX, PAGE_NUMBER_MAX, AnalysisStatus, Expression, Land, Media, MediaType
from media_analysis.engine.errors import ERROR_CLASSES
from media_analysis.models import ImageCluster
from media_analysis.texts.search import MAX_QUERY_CHARACTERS, MAX_QUERY_WORDS, BadTextQuery, parse_query, with_text
from media_analysis.web.api.query import CorpusCursorPagination, CorpusPagination, QueryParamsSerializer
from media_analysis.web.permissions import CanViewExpressions, CanViewLands, CanViewMedia

if TYPE_CHECKING:
    from rest_framework.settings import _Settings

# What a queryset yields (model instances, or values() rows): filtering keeps it.
_Row = TypeVar("_Row")

# --- Querysets -----------------------------------------------------------------


def annotate_land_counts(queryset: QuerySet[Land]) -> QuerySet[Land]:
    """Lands with ``expression_count``, ``media_count``, ``analysed_count`` and ``failed_count``.

    The counts are the stored aggregates (lands.aggregates), joined one row per
    land, so sorting by any of them costs no more than sorting by name. Lands that
    have none yet get their counts first.
    """
    ensure_land_counts()
    return queryset.annotate(
        **{name: Coalesce(F(f"aggregates__{name}"), Value(0)) for name in COUNT_FIELDS},
        counts_refreshed_at=F("aggregates__refreshed_at"),
    )


def filter_expressions(queryset: QuerySet[Expression, _Row], params: dict[str, Any]) -> QuerySet[Expression, _Row]:
    """Apply validated filters (see ``ExpressionFilterSerializer``)."""
    if "land" in params:
        queryset = queryset.filter(land_id=params["land"])
    if "depth" in params:
        queryset = queryset.filter(depth=params["depth"])
    if "minrel" in params:
        queryset = queryset.filter(relevance__gte=params["minrel"])
    if "http_status" in params:
        queryset = queryset.filter(http_status=params["http_status"])
    return queryset


def filter_media(queryset: QuerySet[Media, _Row], params: dict[str, Any]) -> QuerySet[Media, _Row]:
    """Apply validated filters (see ``MediaFilterSerializer``)."""
    lookups = {
        "expression": "expression_id",
        "type": "type",
        "status": "analysis_status",
        "format": "format__iexact",
        "error_class": "error_class",
        "is_conforming": "is_conforming",
    }
    conditions = Q(**{lookup: params[name] for name, lookup in lookups.items() if name in params})
    if "land" in params:
        queryset = queryset.filter(Media.in_land(params["land"], dense=is_dense_land(params["land"])))
    if "earlier_values" in params:
        earlier = Media.holds_earlier_values()
        conditions &= earlier if params["earlier_values"] else ~earlier
    queryset = queryset.filter(conditions)
    if "text" in params:
        queryset = with_text(queryset, params["text"])
    return queryset


# --- Query parameters ------------------------------------------------------------


class ExpressionFilterSerializer(QueryParamsSerializer):
    land = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX, help_text="Land id")
    depth = serializers.IntegerField(
        required=False, min_value=0, max_value=PAGE_NUMBER_MAX, help_text="Crawl depth (exact)"
    )
    minrel = serializers.IntegerField(
        required=False, min_value=0, max_value=PAGE_NUMBER_MAX, help_text="Minimum relevance (relevance >= minrel)"
    )
    http_status = serializers.CharField(required=False, max_length=3, help_text="HTTP status as crawled, e.g. 200")


class MediaFilterSerializer(QueryParamsSerializer):
    land = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX, help_text="Land id")
    expression = serializers.IntegerField(
        required=False, min_value=1, max_value=ID_MAX, help_text="Expression (page) id"
    )
    type = serializers.ChoiceField(required=False, choices=MediaType.choices)
    status = serializers.ChoiceField(
        required=False, choices=AnalysisStatus.choices, help_text="Status of the latest analysis attempt"
    )
    earlier_values = serializers.BooleanField(
        required=False,
        help_text="true: media whose latest attempt failed or is still to come, holding values of an earlier one",
    )
    format = serializers.CharField(required=False, max_length=20, help_text="Image format, e.g. JPEG (any case)")
    error_class = serializers.ChoiceField(required=False, choices=[(code, code) for code in ERROR_CLASSES])
    is_conforming = serializers.BooleanField(required=False, help_text="true or false")
    text = serializers.CharField(
        required=False,
        max_length=MAX_QUERY_CHARACTERS,
        help_text="Words read in the picture (OCR), the gallery's search: every word must appear, in any order; "
        'a phrase in double quotes ("red car") must appear as typed, its words one after the other on one line. '
        f"Case does not count, accents do. At most {MAX_QUERY_WORDS} words and {MAX_QUERY_CHARACTERS} characters.",
    )

    def validate_text(self, value: str) -> str:
        try:
            parse_query(value)
        except BadTextQuery as bad:
            raise serializers.ValidationError(str(bad)) from bad
        return value


# --- Serializers -----------------------------------------------------------------


class LandSerializer(serializers.ModelSerializer):
    languages = serializers.ListField(child=serializers.CharField(), read_only=True)
    expression_count = serializers.IntegerField(read_only=True)
    media_count = serializers.IntegerField(read_only=True)
    analysed_count = serializers.IntegerField(read_only=True, help_text="Media analysed successfully")
    failed_count = serializers.IntegerField(read_only=True, help_text="Media whose analysis failed")
    pending_count = serializers.IntegerField(read_only=True, help_text="Media not analysed yet")
    counts_refreshed_at = serializers.DateTimeField(
        read_only=True, help_text="When the counts were taken (the end of the land's latest job or import)"
    )

    class Meta:
        model = Land
        fields = [
            "id",
            "name",
            "description",
            "lang",
            "languages",
            "created_at",
            "expression_count",
            "media_count",
            "analysed_count",
            "failed_count",
            "pending_count",
            "counts_refreshed_at",
        ]
        read_only_fields = fields


EXPRESSION_LIST_FIELDS = [
    "id",
    "land",
    "domain",
    "domain_name",
    "url",
    "http_status",
    "lang",
    "title",
    "description",
    "keywords",
    "relevance",
    "depth",
    "created_at",
    "published_at",
    "fetched_at",
    "approved_at",
    "readable_at",
]


class ExpressionSerializer(serializers.ModelSerializer):
    domain_name = serializers.CharField(source="domain.name", read_only=True)

    class Meta:
        model = Expression
        # The readable text can be long: lists leave it to the detail.
        fields = EXPRESSION_LIST_FIELDS
        read_only_fields = fields


class ExpressionDetailSerializer(ExpressionSerializer):
    class Meta(ExpressionSerializer.Meta):
        fields = [*EXPRESSION_LIST_FIELDS, "readable"]
        read_only_fields = fields


class MediaClusterSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="cluster-detail", help_text="The cluster's details")

    class Meta:
        model = ImageCluster
        fields = ["id", "size", "url"]
        read_only_fields = fields


class MediaSerializer(serializers.ModelSerializer):
    land = serializers.IntegerField(source="land_id", read_only=True, help_text="Land of the media's expression")
    cluster = MediaClusterSerializer(
        read_only=True, allow_null=True, help_text="Near-duplicate cluster; null for an image without near-duplicate"
    )
    values_are_current = serializers.BooleanField(
        read_only=True,
        help_text="true when the stored values are the latest attempt's (status done); false when they are kept "
        "from an earlier one (failed or pending now) or when there are none",
    )
    values_note = serializers.CharField(
        read_only=True, help_text="Where the stored values come from, e.g. 'failed now; values from <date> (...)'"
    )

    class Meta:
        model = Media
        # Every column, so a field added to the model is exposed without a change here.
        fields = [
            "id",
            "land",
            *(field.name for field in Media._meta.concrete_fields if field.name != "id"),
            "values_are_current",
            "values_note",
        ]
        read_only_fields = fields


# --- Views -----------------------------------------------------------------------


class _NoFormatOverride:
    URL_FORMAT_OVERRIDE = None


class QueryFormatIsAFilter(DefaultContentNegotiation):
    """Content negotiation that leaves ``?format=`` to the media filter.

    DRF reads ``?format=`` as the renderer to use, which would turn
    ``?format=JPEG`` into a 404; the Accept header and ``.json`` suffix still work.
    """

    # DRF reads only ``settings.URL_FORMAT_OVERRIDE`` here, and None is its documented "off"; the stubs
    # type the attribute as the whole api_settings object, whose URL_FORMAT_OVERRIDE is a str.
    settings = cast("_Settings", _NoFormatOverride())


@extend_schema_view(
    list=extend_schema(summary="Lands with their expression and media counts"),
    retrieve=extend_schema(summary="A land with its expression and media counts"),
)
class LandViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Land.objects.all()
    serializer_class = LandSerializer
    pagination_class = CorpusPagination
    permission_classes = [CanViewLands]

    def get_queryset(self) -> QuerySet[Land]:
        return annotate_land_counts(super().get_queryset())


@extend_schema_view(
    list=extend_schema(summary="Expressions (pages) of the corpus", parameters=[ExpressionFilterSerializer]),
    retrieve=extend_schema(summary="An expression, with its readable text", responses=ExpressionDetailSerializer),
)
class ExpressionViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Expression.objects.select_related("domain")
    serializer_class = ExpressionSerializer
    pagination_class = CorpusCursorPagination
    permission_classes = [CanViewExpressions]

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return ExpressionDetailSerializer if self.action == "retrieve" else ExpressionSerializer

    def get_queryset(self) -> QuerySet[Expression]:
        queryset = super().get_queryset()
        if self.action != "retrieve":
            queryset = queryset.defer("readable")
        return queryset

    def filter_queryset(self, queryset: QuerySet[Expression, _Row]) -> QuerySet[Expression, _Row]:
        queryset = super().filter_queryset(queryset)
        if self.action == "list":
            queryset = filter_expressions(queryset, ExpressionFilterSerializer.validated(self.request.query_params))
        return queryset


@extend_schema_view(
    list=extend_schema(summary="Media of the corpus with their analysis", parameters=[MediaFilterSerializer]),
    retrieve=extend_schema(summary="A media with every analysis field"),
)
class MediaViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Media.objects.annotate(land_id=F("expression__land_id")).select_related("cluster")
    serializer_class = MediaSerializer
    pagination_class = CorpusCursorPagination
    permission_classes = [CanViewMedia]
    content_negotiation_class = QueryFormatIsAFilter

    def filter_queryset(self, queryset: QuerySet[Media, _Row]) -> QuerySet[Media, _Row]:
        queryset = super().filter_queryset(queryset)
        if self.action == "list":
            queryset = filter_media(queryset, MediaFilterSerializer.validated(self.request.query_params))
        return queryset
