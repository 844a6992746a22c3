from django.urls import path, re_path
from rest_framework.routers import SimpleRouter
from rest_framework.urlpatterns import format_suffix_patterns

from media_analysis.web.api.clusters import ClusterViewSet, LandClusterListView
from media_analysis.web.api.jobs import AnalysisJobViewSet, start_land_analysis

router = SimpleRouter()
router.register("jobs", AnalysisJobViewSet, basename="analysisjob")

cluster_router = SimpleRouter()
cluster_router.register("clusters", ClusterViewSet, basename="cluster")

urlpatterns = [
    path("lands/<int:land_id>/medianalyse/", start_land_analysis, name="land-medianalyse"),
    *router.urls,
    # With format suffixes, as the corpus routes they link to and from (/api/media/{id}.json names its cluster).
    *format_suffix_patterns(
        [
            re_path(r"^lands/(?P<pk>[0-9]+)/clusters/$", LandClusterListView.as_view(), name="land-clusters"),
            *cluster_router.urls,
        ]
    ),
]
