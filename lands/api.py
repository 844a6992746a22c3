"""Read API for the corpus: lands, their expressions (pages) and media.

Lists are filtered by query parameters validated with small serializers, so a
bad value is a 400 that names the parameter, never a 500. Every list costs a
fixed number of queries whatever the page size (counts come from subqueries,
related rows from joins).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from lands.models import AnalysisStatus, Expression, Land, Media, MediaType
from media_analysis import clusters
from media_analysis.engine.errors import ERROR_CLASSES
from media_analysis.errors import InvalidParameters
from media_analysis.models import ImageCluster

MAX_PAGE_SIZE = 500
CLUSTER_MEMBERS_SHOWN = 500

# --- Querysets -----------------------------------------------------------------


def _count_subquery(queryset: QuerySet, group_by: str) -> Coalesce:
    """COUNT of ``queryset`` as a correlated subquery, 0 when it matches nothing.

    Subqueries rather than ``Count`` over joins: two joined counts multiply each
    other's rows, and ``distinct=True`` hides that at the price of a huge
    intermediate result on a land of 100,000 media.
    """
    counted = queryset.order_by().values(group_by).annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def annotate_land_counts(queryset: QuerySet[Land]) -> QuerySet[Land]:
    """Lands with ``expression_count``, ``media_count``, ``analysed_count`` and ``failed_count``."""
    land_media = Media.objects.filter(expression__land=OuterRef("pk"))
    return queryset.annotate(
        expression_count=_count_subquery(Expression.objects.filter(land=OuterRef("pk")), "land"),
        media_count=_count_subquery(land_media, "expression__land"),
        analysed_count=_count_subquery(land_media.filter(analysis_status=AnalysisStatus.DONE), "expression__land"),
        failed_count=_count_subquery(land_media.filter(analysis_status=AnalysisStatus.FAILED), "expression__land"),
    )


def filter_expressions(queryset: QuerySet[Expression], params: dict[str, Any]) -> QuerySet[Expression]:
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


def filter_media(queryset: QuerySet[Media], params: dict[str, Any]) -> QuerySet[Media]:
    """Apply validated filters (see ``MediaFilterSerializer``)."""
    lookups = {
        "land": "expression__land_id",
        "expression": "expression_id",
        "type": "type",
        "status": "analysis_status",
        "format": "format__iexact",
        "error_class": "error_class",
        "is_conforming": "is_conforming",
    }
    conditions = Q(**{lookup: params[name] for name, lookup in lookups.items() if name in params})
    return queryset.filter(conditions)


def parse_query_params(serializer_class: type[serializers.Serializer], query_params: Any) -> dict[str, Any]:
    """Validated filter values; raises ``InvalidParameters`` (a 400) naming each bad parameter.

    Empty values (``?depth=``) count as absent, as an HTML form submits them.
    """
    data = {key: value for key, value in query_params.items() if value != ""}
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        errors = {field: [str(message) for message in messages] for field, messages in serializer.errors.items()}
        details = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
        raise InvalidParameters(f"Invalid filter parameters ({details})", errors)
    return dict(serializer.validated_data)


# --- Query parameters ------------------------------------------------------------


class ExpressionFilterSerializer(serializers.Serializer):
    land = serializers.IntegerField(required=False, min_value=1, help_text="Land id")
    depth = serializers.IntegerField(required=False, min_value=0, help_text="Crawl depth (exact)")
    minrel = serializers.IntegerField(required=False, min_value=0, help_text="Minimum relevance (relevance >= minrel)")
    http_status = serializers.CharField(required=False, max_length=3, help_text="HTTP status as crawled, e.g. 200")


class MediaFilterSerializer(serializers.Serializer):
    land = serializers.IntegerField(required=False, min_value=1, help_text="Land id")
    expression = serializers.IntegerField(required=False, min_value=1, help_text="Expression (page) id")
    type = serializers.ChoiceField(required=False, choices=MediaType.choices)
    status = serializers.ChoiceField(required=False, choices=AnalysisStatus.choices, help_text="Analysis status")
    format = serializers.CharField(required=False, max_length=20, help_text="Image format, e.g. JPEG (any case)")
    error_class = serializers.ChoiceField(required=False, choices=[(code, code) for code in ERROR_CLASSES])
    is_conforming = serializers.BooleanField(required=False, help_text="true or false")


# --- Serializers -----------------------------------------------------------------


class LandSerializer(serializers.ModelSerializer):
    languages = serializers.ListField(child=serializers.CharField(), read_only=True)
    expression_count = serializers.IntegerField(read_only=True)
    media_count = serializers.IntegerField(read_only=True)
    analysed_count = serializers.IntegerField(read_only=True, help_text="Media analysed successfully")
    failed_count = serializers.IntegerField(read_only=True, help_text="Media whose analysis failed")

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

    class Meta:
        model = Media
        # Every column, so a field added to the model is exposed without a change here.
        fields = ["id", "land", *(field.name for field in Media._meta.concrete_fields if field.name != "id")]
        read_only_fields = fields


# --- Near-duplicate clusters ----------------------------------------------------


class ClusterFilterSerializer(serializers.Serializer):
    ordering = serializers.ChoiceField(
        required=False,
        choices=list(clusters.CLUSTER_ORDERINGS),
        help_text="spread (default: most domains, then most images), size, first_seen (oldest first) or recent",
    )
    min_size = serializers.IntegerField(required=False, min_value=2, help_text="At least this many images")
    min_domains = serializers.IntegerField(required=False, min_value=1, help_text="Seen on at least this many domains")


class ClusterSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="cluster-detail", help_text="The cluster's details")
    land = serializers.IntegerField(source="land_id", read_only=True)
    members = serializers.IntegerField(source="size", read_only=True, help_text="Member media rows")
    first_page = serializers.IntegerField(
        source="first_expression_id", read_only=True, allow_null=True, help_text="Page of the first appearance"
    )
    first_page_url = serializers.CharField(source="first_expression.url", read_only=True, allow_null=True)
    first_domain = serializers.CharField(source="first_domain.name", read_only=True, allow_null=True)
    representative = serializers.IntegerField(source="representative_id", read_only=True, allow_null=True)
    representative_url = serializers.CharField(source="representative.url", read_only=True, allow_null=True)

    class Meta:
        model = ImageCluster
        fields = [
            "id",
            "url",
            "land",
            "members",
            "distinct_domains",
            "distinct_pages",
            "first_seen_at",
            "first_page",
            "first_page_url",
            "first_domain",
            "representative",
            "representative_url",
            "updated_at",
        ]
        read_only_fields = fields


class ClusterMemberSerializer(serializers.Serializer):
    media = serializers.IntegerField(source="media_id")
    media_url = serializers.CharField()
    page = serializers.IntegerField(source="page_id")
    page_url = serializers.CharField()
    page_title = serializers.CharField(allow_null=True)
    domain = serializers.CharField()
    date = serializers.DateTimeField(allow_null=True, help_text="When the page showed it (see date_source)")
    date_source = serializers.ChoiceField(
        choices=["published", "fetched", "crawled"], help_text="The page's published_at, fetched_at or created_at"
    )


class ClusterDomainSerializer(serializers.Serializer):
    domain = serializers.CharField()
    pages = serializers.IntegerField()
    media = serializers.IntegerField()


class ClusterDetailSerializer(ClusterSerializer):
    timeline = ClusterMemberSerializer(many=True, read_only=True, help_text="Members, earliest appearance first")
    timeline_truncated = serializers.BooleanField(read_only=True, help_text="True when members are left out")
    domains = ClusterDomainSerializer(many=True, read_only=True, help_text="Domains showing it, most media first")

    class Meta(ClusterSerializer.Meta):
        fields = [*ClusterSerializer.Meta.fields, "timeline", "timeline_truncated", "domains"]
        read_only_fields = fields


def filter_clusters(queryset: QuerySet[ImageCluster], params: dict[str, Any]) -> QuerySet[ImageCluster]:
    if "min_size" in params:
        queryset = queryset.filter(size__gte=params["min_size"])
    if "min_domains" in params:
        queryset = queryset.filter(distinct_domains__gte=params["min_domains"])
    return queryset


# --- Views -----------------------------------------------------------------------


class CorpusPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class _NoFormatOverride:
    URL_FORMAT_OVERRIDE = None


class QueryFormatIsAFilter(DefaultContentNegotiation):
    """Content negotiation that leaves ``?format=`` to the media filter.

    DRF reads ``?format=`` as the renderer to use, which would turn
    ``?format=JPEG`` into a 404; the Accept header and ``.json`` suffix still work.
    """

    settings = _NoFormatOverride()


@extend_schema_view(
    list=extend_schema(summary="Lands with their expression and media counts"),
    retrieve=extend_schema(summary="A land with its expression and media counts"),
)
class LandViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Land.objects.all()
    serializer_class = LandSerializer
    pagination_class = CorpusPagination

    def get_queryset(self) -> QuerySet[Land]:
        return annotate_land_counts(super().get_queryset())

    @extend_schema(
        summary="Near-duplicate clusters of a land, most spread first",
        parameters=[ClusterFilterSerializer],
        responses={200: ClusterSerializer(many=True), 400: OpenApiResponse(description="Invalid parameters")},
        filters=False,
    )
    @action(detail=True, methods=["get"], pagination_class=CorpusPagination)
    def clusters(self, request: Request, pk: str | None = None) -> Response:
        if not str(pk).isdigit() or not Land.objects.filter(pk=int(pk)).exists():
            raise Http404("No land with this id")
        params = parse_query_params(ClusterFilterSerializer, request.query_params)
        queryset = filter_clusters(clusters.clusters_of_land(int(pk), params.get("ordering", "spread")), params)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(ClusterSerializer(page, many=True, context={"request": request}).data)


@extend_schema_view(
    list=extend_schema(summary="Expressions (pages) of the corpus", parameters=[ExpressionFilterSerializer]),
    retrieve=extend_schema(summary="An expression, with its readable text", responses=ExpressionDetailSerializer),
)
class ExpressionViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Expression.objects.select_related("domain")
    serializer_class = ExpressionSerializer
    pagination_class = CorpusPagination

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return ExpressionDetailSerializer if self.action == "retrieve" else ExpressionSerializer

    def get_queryset(self) -> QuerySet[Expression]:
        queryset = super().get_queryset()
        if self.action != "retrieve":
            queryset = queryset.defer("readable")
        return queryset

    def filter_queryset(self, queryset: QuerySet[Expression]) -> QuerySet[Expression]:
        queryset = super().filter_queryset(queryset)
        if self.action == "list":
            queryset = filter_expressions(
                queryset, parse_query_params(ExpressionFilterSerializer, self.request.query_params)
            )
        return queryset


@extend_schema_view(
    list=extend_schema(summary="Media of the corpus with their analysis", parameters=[MediaFilterSerializer]),
    retrieve=extend_schema(summary="A media with every analysis field"),
)
class MediaViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = Media.objects.annotate(land_id=F("expression__land_id")).select_related("cluster")
    serializer_class = MediaSerializer
    pagination_class = CorpusPagination
    content_negotiation_class = QueryFormatIsAFilter

    def filter_queryset(self, queryset: QuerySet[Media]) -> QuerySet[Media]:
        queryset = super().filter_queryset(queryset)
        if self.action == "list":
            queryset = filter_media(queryset, parse_query_params(MediaFilterSerializer, self.request.query_params))
        return queryset


@extend_schema_view(retrieve=extend_schema(summary="A near-duplicate cluster: its members, domains and timeline"))
class ClusterViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = ImageCluster.objects.all()
    serializer_class = ClusterDetailSerializer

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            details = clusters.cluster_details(int(kwargs["pk"]), member_limit=CLUSTER_MEMBERS_SHOWN)
        except (ImageCluster.DoesNotExist, ValueError):
            raise Http404("No cluster with this id") from None
        cluster = details.cluster
        cluster.timeline = details.timeline
        cluster.timeline_truncated = details.truncated
        cluster.domains = [{"domain": name, "pages": pages, "media": media} for name, pages, media in details.domains]
        return Response(self.get_serializer(cluster).data)
