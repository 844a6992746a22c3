"""Admin for near-duplicate clusters: the model admins, and the pages mounted under clusters/ in urls.

* ``/admin/medianalyse/clusters/lands/<land>/``: a land's clusters, most spread first,
  with thumbnails side by side; recompute the land; merge two selected clusters.
* ``/admin/medianalyse/clusters/<cluster>/``: one cluster: members, pairwise distances,
  domains, timeline of appearances; split members off; merge with another cluster.

Reading needs staff status (the admin's own check) and, as for every page derived from
a land, the view permission on lands. Correcting (split, merge, recompute) needs the
change permission on clusters; the rules are in media_analysis.web.permissions.
Every decision is made in media_analysis.clusters.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_POST

from lands.models import ID_MAX, Land
from lands.templatetags.media_display import http_url, media_preview_html
from media_analysis import clusters
from media_analysis.errors import InvalidParameters
from media_analysis.models import ClusterLink, ImageCluster
from media_analysis.web.admin.pages import VIEW_LAND_NEEDED, media_change_url, require
from media_analysis.web.permissions import can_correct_clusters, can_view_land, can_view_wall

CLUSTERS_PER_PAGE = 20
THUMBNAILS_PER_CLUSTER = 8
MEMBERS_SHOWN = 200
DISTANCE_MEMBERS = 10
ORDERING_LABELS = {
    "spread": "most domains",
    "size": "most images",
    "first_seen": "oldest first appearance",
    "recent": "newest first appearance",
}


def _url(name: str, args: list[Any] | None = None, fallback: str = "") -> str:
    # The other admin pages are mounted in the project's urls, not in every test configuration.
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return fallback


def image_src(url: str | None) -> str | None:
    """The URL if the admin may load or link it (the one rule of ``media_display.http_url``)."""
    return http_url(url)


def land_clusters_url(land_id: int) -> str:
    return reverse("medianalyse_clusters:land-clusters", args=[land_id])


def cluster_url(cluster_id: int) -> str:
    return reverse("medianalyse_clusters:cluster-detail", args=[cluster_id])


def _context(request: HttpRequest, title: str, land: Land, **extra: Any) -> dict[str, Any]:
    return {
        **admin.site.each_context(request),
        "title": title,
        "land": land,
        "may_act": can_correct_clusters(request.user),
        "land_change_url": _url("admin:lands_land_change", [land.pk]),
        "land_analysis_url": _url("medianalyse:land-analysis", [land.pk]),
        "land_clusters_url": land_clusters_url(land.pk),
        **extra,
    }


def _require_may_act(request: HttpRequest) -> None:
    require(can_correct_clusters(request.user), "Changing clusters needs the change permission on clusters.")


def _report_message(report: clusters.ClusterReport) -> str:
    return (
        f"{report.clusters:,} clusters ({report.clustered_images:,} images); "
        f"{report.created} created, {report.updated} updated, {report.deleted} removed, "
        f"in {report.seconds:.2f} s."
    )


# --- A land's clusters ------------------------------------------------------------------


@require_GET
def land_clusters_view(request: HttpRequest, land_id: int) -> HttpResponse:
    require(can_view_land(request.user), VIEW_LAND_NEEDED)
    land = get_object_or_404(Land, pk=land_id)
    ordering = request.GET.get("ordering") or "spread"
    if ordering not in clusters.CLUSTER_ORDERINGS:
        messages.warning(request, f"Unknown ordering {ordering[:40]!r}: most domains first.")
        ordering = "spread"
    paginator = Paginator(clusters.clusters_of_land(land.pk, ordering), CLUSTERS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    rows = list(page.object_list)
    previews = clusters.member_previews([c.pk for c in rows], per_cluster=THUMBNAILS_PER_CLUSTER)
    items = [
        {
            "cluster": cluster,
            "url": cluster_url(cluster.pk),
            "thumbnails": previews.get(cluster.pk, []),
            "more": max(0, cluster.size - len(previews.get(cluster.pk, []))),
        }
        for cluster in rows
    ]
    context = _context(
        request,
        f"Near-duplicate clusters: {land.name}",
        land,
        page=page,
        items=items,
        ordering=ordering,
        orderings=ORDERING_LABELS,
        state=clusters.land_clustering(land.pk),
    )
    return render(request, "media_analysis/clusters/land_clusters.html", context)


@require_POST
def land_recluster_view(request: HttpRequest, land_id: int) -> HttpResponse:
    _require_may_act(request)
    land = get_object_or_404(Land, pk=land_id)
    report = clusters.recluster_land(land.pk)
    messages.success(request, f"Clusters of {land.name} recomputed: {_report_message(report)}")
    return HttpResponseRedirect(land_clusters_url(land.pk))


@require_POST
def land_merge_view(request: HttpRequest, land_id: int) -> HttpResponse:
    _require_may_act(request)
    land = get_object_or_404(Land, pk=land_id)
    chosen = request.POST.getlist("clusters")
    back = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        back = land_clusters_url(land.pk)
    # The same id may come twice (a repeated parameter): two distinct ids, in the order given.
    distinct = list(dict.fromkeys(chosen))
    if len(distinct) != 2:
        messages.error(request, "Select exactly two clusters to merge.")
        return HttpResponseRedirect(back)
    first, second = distinct
    return _merge(request, land, first, second, failure_url=back)


def _merge(request: HttpRequest, land: Land, first: str, second: str, failure_url: str) -> HttpResponse:
    try:
        a, b = int(first), int(second)
        if not (0 < a <= ID_MAX and 0 < b <= ID_MAX):
            # A number no id column holds would overflow the query below.
            raise ValueError(f"cluster id out of range: {first!r}, {second!r}")
        if not ImageCluster.objects.filter(pk__in=[a, b], land=land).count() == 2:
            raise InvalidParameters("Both clusters must belong to this land", {"clusters": ["not in this land"]})
        result = clusters.merge_clusters(a, b, user=request.user)
    except ValueError:
        messages.error(request, "Cluster ids are numbers.")
        return HttpResponseRedirect(failure_url)
    except InvalidParameters as invalid:
        messages.error(request, f"Not merged: {invalid}")
        return HttpResponseRedirect(failure_url)
    merged = result.cluster_ids[0] if result.cluster_ids else None
    messages.success(request, f"Clusters {a} and {b} merged; the merge is kept when clusters are recomputed.")
    return HttpResponseRedirect(cluster_url(merged) if merged else land_clusters_url(land.pk))


# --- One cluster ------------------------------------------------------------------------------


@require_GET
def cluster_detail_view(request: HttpRequest, cluster_id: int) -> HttpResponse:
    require(can_view_land(request.user), VIEW_LAND_NEEDED)
    try:
        details = clusters.cluster_details(cluster_id, member_limit=MEMBERS_SHOWN, distance_limit=DISTANCE_MEMBERS)
    except ImageCluster.DoesNotExist:
        messages.warning(request, f"Cluster {cluster_id} no longer exists (the clusters were recomputed).")
        return HttpResponseRedirect(_url("admin:media_analysis_imagecluster_changelist", fallback="/admin/"))
    cluster = details.cluster
    members = [(media, media_change_url(request.user, media.pk)) for media in details.members]
    distance_rows = [
        (media, [_distance_cell(cell) for cell in line])
        for media, line in zip(details.distance_members, details.distances, strict=True)
    ]
    context = _context(
        request,
        f"Cluster {cluster.pk}: {cluster.size} images on {cluster.distinct_domains} domains",
        cluster.land,
        cluster=cluster,
        details=details,
        members=members,
        distance_members=details.distance_members,
        distance_rows=distance_rows,
        # Page URLs come from crawled data: only web addresses become links.
        timeline=[(entry, image_src(entry.page_url)) for entry in details.timeline],
        first_href=image_src(details.first.page_url) if details.first else None,
        threshold=clusters.cluster_params().phash_threshold,
        wall_url=f"{reverse('medianalyse:wall')}?cluster={cluster.pk}" if can_view_wall(request.user) else "",
    )
    return render(request, "media_analysis/clusters/cluster_detail.html", context)


def _distance_cell(cell: clusters.Distance | None) -> dict[str, Any] | None:
    if cell is None:
        return None
    if cell.identical:
        return {"text": "=", "title": "Same file (identical SHA-256)", "close": True}
    if cell.phash is None:
        return {"text": "?", "title": "No perceptual hash on both sides", "close": False}
    mirrored = " (mirror image)" if cell.mirrored else ""
    dhash = "?" if cell.dhash is None else cell.dhash
    return {
        "text": f"{cell.phash}{'m' if cell.mirrored else ''}",
        "title": f"pHash {cell.phash} bits{mirrored}, dHash {dhash} bits",
        "close": cell.phash <= clusters.cluster_params().phash_threshold,
    }


@require_POST
def cluster_split_view(request: HttpRequest, cluster_id: int) -> HttpResponse:
    _require_may_act(request)
    cluster = get_object_or_404(ImageCluster, pk=cluster_id)
    try:
        result = clusters.split_cluster(cluster, request.POST.getlist("members"), user=request.user)
    except InvalidParameters as invalid:
        messages.error(request, f"Not split: {invalid}")
        return HttpResponseRedirect(cluster_url(cluster.pk))
    note = ""
    if result.moved_with_identical:
        note = f" Identical files went along: {', '.join(map(str, result.moved_with_identical))}."
    messages.success(request, f"Members detached; the split is kept when clusters are recomputed.{note}")
    if ImageCluster.objects.filter(pk=cluster.pk).exists():
        return HttpResponseRedirect(cluster_url(cluster.pk))
    return HttpResponseRedirect(land_clusters_url(cluster.land_id))


@require_POST
def cluster_merge_view(request: HttpRequest, cluster_id: int) -> HttpResponse:
    _require_may_act(request)
    cluster = get_object_or_404(ImageCluster.objects.select_related("land"), pk=cluster_id)
    other = (request.POST.get("other") or "").strip()
    return _merge(request, cluster.land, str(cluster.pk), other, failure_url=cluster_url(cluster.pk))


# --- Model admins -----------------------------------------------------------------------------


@admin.register(ImageCluster)
class ImageClusterAdmin(admin.ModelAdmin):
    """Clusters are computed: listed here across lands, never edited by hand (use the cluster pages)."""

    list_display = [
        "cluster",
        "preview",
        "land",
        "size",
        "distinct_domains",
        "distinct_pages",
        "first_seen_at",
        "first_domain",
        "land_pages",
    ]
    list_display_links = None
    list_filter = [("land", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["land", "representative", "first_domain"]
    ordering = ["-distinct_domains", "-size", "id"]
    show_full_result_count = False

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        if can_view_land(request.user):
            return list(self.list_display)
        # The cluster pages are a land's: without the view permission on lands, no link to them.
        return ["cluster_number" if name == "cluster" else name for name in self.list_display if name != "land_pages"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImageCluster]:
        # The representative is only shown as a thumbnail: leave its long fields behind.
        return (
            super()
            .get_queryset(request)
            .defer(
                "representative__exif_data",
                "representative__dominant_colors",
                "representative__websafe_colors",
                "representative__content_tags",
                "representative__analysis_error",
            )
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ImageCluster | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ImageCluster | None = None) -> bool:
        return False

    @admin.display(description="Cluster", ordering="id")
    def cluster(self, cluster: ImageCluster) -> SafeString:
        return format_html('<a href="{}">Cluster {}</a>', cluster_url(cluster.pk), cluster.pk)

    @admin.display(description="Cluster", ordering="id")
    def cluster_number(self, cluster: ImageCluster) -> str:
        return f"Cluster {cluster.pk}"

    @admin.display(description="Representative")
    def preview(self, cluster: ImageCluster) -> SafeString:
        if cluster.representative is None:
            return format_html("{}", "-")
        return media_preview_html(cluster.representative)

    @admin.display(description="All of the land's clusters")
    def land_pages(self, cluster: ImageCluster) -> SafeString:
        return format_html('<a href="{}">{}</a>', land_clusters_url(cluster.land_id), cluster.land.name)


@admin.register(ClusterLink)
class ClusterLinkAdmin(admin.ModelAdmin):
    """Manual merges and splits. Deleting one withdraws it: the land is clustered again at once."""

    list_display = ["id", "land", "media_a", "media_b", "kind", "created_by", "created_at"]
    list_filter = ["kind", ("land", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["land", "created_by"]
    raw_id_fields = ["media_a", "media_b"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ClusterLink | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ClusterLink | None = None) -> bool:
        # Withdrawing a correction is a correction: the same rule as the cluster pages' forms.
        return can_correct_clusters(request.user) and super().has_delete_permission(request, obj)

    @admin.display(description="Image A")
    def media_a(self, link: ClusterLink) -> int:
        return link.media_a_id

    @admin.display(description="Image B")
    def media_b(self, link: ClusterLink) -> int:
        return link.media_b_id

    def delete_model(self, request: HttpRequest, obj: ClusterLink) -> None:
        land_id = obj.land_id
        super().delete_model(request, obj)
        clusters.recluster_land(land_id)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ClusterLink]) -> None:
        land_ids = sorted(set(queryset.values_list("land_id", flat=True)))
        super().delete_queryset(request, queryset)
        for land_id in land_ids:
            clusters.recluster_land(land_id)
