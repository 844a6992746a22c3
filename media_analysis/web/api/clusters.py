"""Near-duplicate clusters in the REST API: a land's clusters, and one cluster's details.

Mounted under /api/ beside the corpus endpoints: /api/lands/{id}/clusters/ and
/api/clusters/{id}/. Clusters are derived from a land: reading them needs the view
permission on lands. Every decision is made in media_analysis.clusters.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from lands.models import Land
from media_analysis import clusters
from media_analysis.models import ImageCluster
from media_analysis.web.api.query import CorpusPagination, QueryParamsSerializer
from media_analysis.web.permissions import CanViewLands

CLUSTER_MEMBERS_SHOWN = 500


class ClusterFilterSerializer(QueryParamsSerializer):
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


@extend_schema(
    summary="Near-duplicate clusters of a land, most spread first",
    parameters=[
        OpenApiParameter("id", int, OpenApiParameter.PATH, description="A unique integer value identifying this land."),
        ClusterFilterSerializer,
    ],
    responses={200: ClusterSerializer(many=True), 400: OpenApiResponse(description="Invalid parameters")},
    filters=False,
)
class LandClusterListView(generics.ListAPIView):
    # GET /api/lands/{id}/clusters/: ``pk`` in the URL, as in the land's own routes.
    serializer_class = ClusterSerializer
    pagination_class = CorpusPagination
    permission_classes = [CanViewLands]

    def get_queryset(self) -> QuerySet[ImageCluster]:
        land_id = int(self.kwargs["pk"])
        if not Land.objects.filter(pk=land_id).exists():
            raise Http404("No land with this id")
        params = ClusterFilterSerializer.validated(self.request.query_params)
        return filter_clusters(clusters.clusters_of_land(land_id, params.get("ordering", "spread")), params)


@extend_schema_view(retrieve=extend_schema(summary="A near-duplicate cluster: its members, domains and timeline"))
class ClusterViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = ImageCluster.objects.all()
    serializer_class = ClusterDetailSerializer
    permission_classes = [CanViewLands]

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            details = clusters.cluster_details(int(kwargs["pk"]), member_limit=CLUSTER_MEMBERS_SHOWN)
        except (ImageCluster.DoesNotExist, ValueError):
            raise Http404("No cluster with this id") from None
        cluster = details.cluster
        # Extra attributes for ClusterDetailSerializer's read-only fields; the model declares no such fields.
        cluster.timeline = details.timeline  # type: ignore[attr-defined]
        cluster.timeline_truncated = details.truncated  # type: ignore[attr-defined]
        cluster.domains = [  # type: ignore[attr-defined]
            {"domain": name, "pages": pages, "media": media} for name, pages, media in details.domains
        ]
        return Response(self.get_serializer(cluster).data)
