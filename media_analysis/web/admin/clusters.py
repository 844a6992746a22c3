"""Admin for near-duplicate clusters: the model admins, and the pages mounted under clusters/ in urls.

* ``/admin/medianalyse/clusters/lands/<land>/``: a land's clusters, most spread first,
  with thumbnails side by side; recompute the land; merge two selected clusters.
* ``/admin/medianalyse/clusters/<cluster>/``: one cluster: members (paged), pairwise distances,
  domains, timeline of appearances (drawn); split members off; merge with another cluster.
  A split or a merge asks for confirmation first. A cluster id gone in a merge leads to the
  surviving cluster.
* ``/admin/medianalyse/clusters/corrections/<correction>/undo/``: undo a merge, a split or
  an undo; the land page and the cluster page list the corrections with a button to revert.

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
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST

from lands.models import ID_MAX, Land, Media
from lands.templatetags.media_display import http_url, media_preview_html
from media_analysis import clusters
from media_analysis.errors import InvalidParameters
from media_analysis.models import ClusterCorrection, ClusterLink, ImageCluster
from media_analysis.texts import captions
from media_analysis.web import charts
from media_analysis.web.admin.pages import VIEW_LAND_NEEDED, media_change_url, require
from media_analysis.web.permissions import can_correct_clusters, can_view_land, can_view_wall

CLUSTERS_PER_PAGE = 20
THUMBNAILS_PER_CLUSTER = 8
MEMBERS_SHOWN = 200
CORRECTIONS_SHOWN = 10
CORRECTIONS_SCANNED = 200
CORRECTION_THUMBNAILS = 6
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


def _safe_next(request: HttpRequest, fallback: str) -> str:
    back = request.POST.get("next") or ""
    if back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return back
    return fallback


def _cluster_links(ids: list[int]) -> SafeString:
    return format_html_join(", ", '<a href="{}">cluster {}</a>', ((cluster_url(pk), pk) for pk in ids))


def corrections_shown(land_id: int, cluster_id: int | None = None) -> list[clusters.CorrectionPreview]:
    return clusters.recent_corrections(
        land_id, cluster_id, limit=CORRECTIONS_SHOWN, scan=CORRECTIONS_SCANNED, thumbnails=CORRECTION_THUMBNAILS
    )


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
        corrections=corrections_shown(land.pk),
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
        if request.POST.get("confirmed") != "yes":
            return _confirm_merge(request, land, a, b, failure_url)
        result = clusters.merge_clusters(a, b, user=request.user)
    except ValueError:
        messages.error(request, "Cluster ids are numbers.")
        return HttpResponseRedirect(failure_url)
    except InvalidParameters as invalid:
        messages.error(request, f"Not merged: {invalid}")
        return HttpResponseRedirect(failure_url)
    merged = result.cluster_ids[0] if result.cluster_ids else None
    messages.success(
        request,
        format_html(
            "Clusters {} and {} merged; the merge is kept when clusters are recomputed. "
            'It can be reverted under <a href="#mc-corrections">Corrections</a>.',
            a,
            b,
        ),
    )
    return HttpResponseRedirect(cluster_url(merged) if merged else land_clusters_url(land.pk))


def _confirm_merge(request: HttpRequest, land: Land, a: int, b: int, back: str) -> HttpResponse:
    pair = list(ImageCluster.objects.filter(pk__in=[a, b]).only("id", "size", "distinct_domains", "representative_id"))
    pair.sort(key=lambda cluster: [a, b].index(cluster.pk))
    previews = clusters.member_previews([a, b], per_cluster=THUMBNAILS_PER_CLUSTER)
    context = _context(
        request,
        f"Merge clusters {a} and {b}?",
        land,
        action=reverse("medianalyse_clusters:land-merge", args=[land.pk]),
        kind="merge",
        fields=[("clusters", str(a)), ("clusters", str(b)), ("next", back)],
        groups=[
            (f"Cluster {c.pk}: {c.size} images on {c.distinct_domains} domains", previews.get(c.pk, []), c.size)
            for c in pair
        ],
        back=back,
        question="These two clusters will become one, and stay one when clusters are recomputed.",
        button="Yes, merge them",
    )
    return render(request, "media_analysis/clusters/confirm.html", context)


# --- One cluster ------------------------------------------------------------------------------


@require_GET
def cluster_detail_view(request: HttpRequest, cluster_id: int) -> HttpResponse:
    require(can_view_land(request.user), VIEW_LAND_NEEDED)
    page_number = _page_number(request.GET.get("page"))
    try:
        details = clusters.cluster_details(
            cluster_id,
            member_limit=MEMBERS_SHOWN,
            distance_limit=DISTANCE_MEMBERS,
            member_offset=(page_number - 1) * MEMBERS_SHOWN,
        )
    except ImageCluster.DoesNotExist:
        survivor = clusters.surviving_cluster(cluster_id)
        if survivor is not None:
            messages.info(
                request, f"Cluster {cluster_id} was merged or split: its images are now in cluster {survivor}."
            )
            return HttpResponseRedirect(cluster_url(survivor))
        messages.warning(request, f"Cluster {cluster_id} no longer exists (the clusters were recomputed).")
        return HttpResponseRedirect(_url("admin:media_analysis_imagecluster_changelist", fallback="/admin/"))
    cluster = details.cluster
    pages = max(1, -(-details.member_count // MEMBERS_SHOWN))
    if page_number > pages:
        return HttpResponseRedirect(f"{cluster_url(cluster.pk)}?page={pages}")
    # The members' texts side by side (a re-captioned picture is how a meme changes), then its distinct captions.
    texts = captions.member_texts(media.pk for media in details.members)
    members = [
        (
            media,
            media_change_url(request.user, media.pk),
            details.relations.get(media.pk, ""),
            texts[media.pk].text if media.pk in texts else "",
        )
        for media in details.members
    ]
    distinct_captions = captions.cluster_captions(cluster.pk)
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
        member_page={
            "number": page_number,
            "count": pages,
            "first": details.member_offset + 1,
            "last": details.member_offset + len(details.members),
            "previous": page_number - 1 if page_number > 1 else None,
            "next": page_number + 1 if page_number < pages else None,
        },
        distance_members=details.distance_members,
        captions=[
            (caption, [(place, image_src(place.page_url)) for place in caption.places]) for caption in distinct_captions
        ],
        distance_rows=distance_rows,
        # Page URLs come from crawled data: only web addresses become links.
        timeline=[(entry, image_src(entry.page_url)) for entry in details.timeline],
        timeline_chart=charts.timeline_chart(
            details.appearances, chart_id=f"cluster-{cluster.pk}-timeline", title="Appearances by domain and date"
        ),
        first_href=image_src(details.first.page_url) if details.first else None,
        threshold=clusters.cluster_params().phash_threshold,
        corrections=corrections_shown(cluster.land_id, cluster.pk),
        wall_url=f"{reverse('medianalyse:wall')}?cluster={cluster.pk}" if can_view_wall(request.user) else "",
    )
    return render(request, "media_analysis/clusters/cluster_detail.html", context)


def _page_number(value: str | None) -> int:
    try:
        number = int(value or 1)
    except ValueError:
        return 1
    return min(max(1, number), ID_MAX)


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
    cluster = get_object_or_404(ImageCluster.objects.select_related("land"), pk=cluster_id)
    chosen = request.POST.getlist("members")
    if request.POST.get("confirmed") != "yes":
        return _confirm_split(request, cluster, chosen)
    try:
        result = clusters.split_cluster(cluster, chosen, user=request.user)
    except InvalidParameters as invalid:
        messages.error(request, f"Not split: {invalid}")
        return HttpResponseRedirect(cluster_url(cluster.pk))
    note = ""
    if result.moved_with_identical:
        note = f" Identical files went along: {', '.join(map(str, result.moved_with_identical))}."
    others = [pk for pk in result.cluster_ids if pk != cluster.pk]
    if others:
        where = format_html(" The detached images now form {}.", _cluster_links(others))
    else:
        where = mark_safe(" The detached images are in no cluster now (no near-duplicate left).")
    messages.success(
        request,
        format_html(
            "Members detached; the split is kept when clusters are recomputed "
            'and can be reverted under <a href="#mc-corrections">Corrections</a>.{}{}',
            note,
            where,
        ),
    )
    if ImageCluster.objects.filter(pk=cluster.pk).exists():
        return HttpResponseRedirect(cluster_url(cluster.pk))
    return HttpResponseRedirect(land_clusters_url(cluster.land_id))


def _confirm_split(request: HttpRequest, cluster: ImageCluster, chosen: list[str]) -> HttpResponse:
    ids = sorted({int(value) for value in chosen if value.isdigit() and 0 < int(value) <= ID_MAX})
    if not ids:
        messages.error(request, "Not split: choose the members to detach.")
        return HttpResponseRedirect(cluster_url(cluster.pk))
    detach = list(
        Media.objects.filter(cluster_id=cluster.pk, pk__in=ids).only(
            "id", "url", "type", "width", "height", "thumbnail_key", "analysis_status", "error_class"
        )
    )
    if len(detach) != len(ids):
        messages.error(request, f"Not split: some of the chosen images are no longer members of cluster {cluster.pk}.")
        return HttpResponseRedirect(cluster_url(cluster.pk))
    stay = cluster.size - len(detach)
    context = _context(
        request,
        f"Detach {len(detach)} image{'s' if len(detach) != 1 else ''} from cluster {cluster.pk}?",
        cluster.land,
        action=reverse("medianalyse_clusters:cluster-split", args=[cluster.pk]),
        kind="split",
        fields=[("members", str(media.pk)) for media in detach],
        groups=[(f"To detach ({len(detach)})", detach, len(detach))],
        back=cluster_url(cluster.pk),
        question=(
            f"These images will be kept apart from the {stay} other member{'s' if stay != 1 else ''}, even when "
            "clusters are recomputed. Identical files go along with them."
        ),
        button="Yes, detach them",
    )
    return render(request, "media_analysis/clusters/confirm.html", context)


@require_POST
def cluster_merge_view(request: HttpRequest, cluster_id: int) -> HttpResponse:
    _require_may_act(request)
    cluster = get_object_or_404(ImageCluster.objects.select_related("land"), pk=cluster_id)
    other = (request.POST.get("other") or request.POST.get("clusters_other") or "").strip()
    return _merge(request, cluster.land, str(cluster.pk), other, failure_url=cluster_url(cluster.pk))


@require_POST
def correction_undo_view(request: HttpRequest, correction_id: int) -> HttpResponse:
    _require_may_act(request)
    correction = get_object_or_404(ClusterCorrection.objects.only("id", "land_id", "kind"), pk=correction_id)
    back = _safe_next(request, land_clusters_url(correction.land_id))
    try:
        result = clusters.undo_correction(correction, user=request.user)
    except InvalidParameters as invalid:
        messages.error(request, f"Not reverted: {invalid}")
        return HttpResponseRedirect(back)
    messages.success(
        request,
        format_html(
            "{} {} reverted; its images are now in {}. The revert can itself be reverted.",
            correction.get_kind_display(),
            correction.pk,
            _cluster_links(result.cluster_ids) if result.cluster_ids else "no cluster",
        ),
    )
    return HttpResponseRedirect(cluster_url(result.cluster_ids[0]) if len(result.cluster_ids) == 1 else back)


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
