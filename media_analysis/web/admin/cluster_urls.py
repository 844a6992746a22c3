"""The near-duplicate cluster pages, mounted with
``path("admin/medianalyse/clusters/", include("media_analysis.web.admin.cluster_urls"))`` before the admin itself.

URL names (namespace ``medianalyse_clusters``): ``land-clusters``, ``land-recluster`` and
``land-merge`` take a land id; ``cluster-detail``, ``cluster-split`` and ``cluster-merge``
take a cluster id.
"""

from django.contrib import admin
from django.urls import path

from media_analysis.web.admin import clusters as views

app_name = "medianalyse_clusters"

urlpatterns = [
    path("lands/<int:land_id>/", admin.site.admin_view(views.land_clusters_view), name="land-clusters"),
    path("lands/<int:land_id>/recompute/", admin.site.admin_view(views.land_recluster_view), name="land-recluster"),
    path("lands/<int:land_id>/merge/", admin.site.admin_view(views.land_merge_view), name="land-merge"),
    path("<int:cluster_id>/", admin.site.admin_view(views.cluster_detail_view), name="cluster-detail"),
    path("<int:cluster_id>/split/", admin.site.admin_view(views.cluster_split_view), name="cluster-split"),
    path("<int:cluster_id>/merge/", admin.site.admin_view(views.cluster_merge_view), name="cluster-merge"),
]
