"""The custom admin pages, mounted with
``path("admin/medianalyse/", include("media_analysis.web.admin.urls"))`` before the admin itself.

Two URL namespaces, each view wrapped with ``admin.site.admin_view``:

* ``medianalyse``: ``api-tokens`` (the user's own API tokens), ``api-token-revoke`` a token id;
  ``job-progress`` and ``job-cancel`` take a job id; ``land-analysis`` and
  ``land-gallery`` take a land id; ``wall`` and ``wall-png`` take a land or a cluster id and
  filters as GET parameters; ``stored-thumbnail`` the key of a stored thumbnail.
* ``medianalyse_clusters``, under ``clusters/``: ``land-clusters``, ``land-recluster`` and
  ``land-merge`` take a land id; ``cluster-detail``, ``cluster-split`` and ``cluster-merge``
  take a cluster id; ``correction-undo`` a correction id.
"""

from django.contrib import admin
from django.urls import include, path

from media_analysis.web import thumbnails
from media_analysis.web.admin import clusters, pages, tokens, wall

analysis_patterns = [
    path("jobs/<int:job_id>/", admin.site.admin_view(pages.job_progress_view), name="job-progress"),
    path("jobs/<int:job_id>/cancel/", admin.site.admin_view(pages.job_cancel_view), name="job-cancel"),
    path("lands/<int:land_id>/", admin.site.admin_view(pages.land_analysis_view), name="land-analysis"),
    path("lands/<int:land_id>/gallery/", admin.site.admin_view(pages.land_gallery_view), name="land-gallery"),
    path("tokens/", admin.site.admin_view(tokens.api_tokens_view), name="api-tokens"),
    path(
        "tokens/<int:token_id>/revoke/",
        admin.site.admin_view(tokens.api_token_revoke_view),
        name="api-token-revoke",
    ),
    path("wall/", admin.site.admin_view(wall.wall_view), name="wall"),
    path("wall.png", admin.site.admin_view(wall.wall_png_view), name="wall-png"),
    # Cacheable: the admin would otherwise forbid caching a file that never changes.
    path(
        "stored/<path:key>",
        admin.site.admin_view(thumbnails.thumbnail_view, cacheable=True),
        name="stored-thumbnail",
    ),
]

cluster_patterns = [
    path("lands/<int:land_id>/", admin.site.admin_view(clusters.land_clusters_view), name="land-clusters"),
    path("lands/<int:land_id>/recompute/", admin.site.admin_view(clusters.land_recluster_view), name="land-recluster"),
    path("lands/<int:land_id>/merge/", admin.site.admin_view(clusters.land_merge_view), name="land-merge"),
    path("<int:cluster_id>/", admin.site.admin_view(clusters.cluster_detail_view), name="cluster-detail"),
    path("<int:cluster_id>/split/", admin.site.admin_view(clusters.cluster_split_view), name="cluster-split"),
    path("<int:cluster_id>/merge/", admin.site.admin_view(clusters.cluster_merge_view), name="cluster-merge"),
    path(
        "corrections/<int:correction_id>/undo/",
        admin.site.admin_view(clusters.correction_undo_view),
        name="correction-undo",
    ),
]

urlpatterns = [
    path("", include((analysis_patterns, "medianalyse"))),
    path("clusters/", include((cluster_patterns, "medianalyse_clusters"))),
]
