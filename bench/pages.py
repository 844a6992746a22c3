"""Response times of the pages and the API on a land of N media.

Builds, with bulk inserts, one land of N media (10 per page, pages spread over
400 sites) holding one near-duplicate cluster of ``--cluster`` images spread over its
pages, and 20 small lands in a throwaway database: SQLite in a temporary
MEDIANALYSE_VAR_DIR, or the PostgreSQL database of DATABASE_URL when it is set
(its tables are emptied first: give it a scratch database). Then times each
request through Django's test client, logged in as a superuser, and prints a
Markdown table of the median of ``--repeat`` runs (after one warm-up run).

    .venv/bin/python bench/pages.py [--media 200000] [--repeat 5] [--cluster 10000]

docs/benchmarks/pages.md keeps the results.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 5000
SITES = 400
SMALL_LANDS = 20
FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
WEBSAFE = ("#003366", "#ffffff", "#cc9966", "#333333", "#669900", "#000000")
ERRORS = ("timeout", "http_error", "not_an_image", "too_large")


def build_land(name: str, media_count: int, domains: list, seed: int = 11) -> int:
    from lands.models import Expression, Land, Media

    rng = random.Random(seed)
    land = Land.objects.create(name=name, lang="fr,en")
    page_count = max(1, media_count // 10)
    page_ids: list[int] = []
    for start in range(0, page_count, BATCH):
        created = Expression.objects.bulk_create(
            Expression(
                land=land,
                domain=domains[i % len(domains)],
                url=f"https://{domains[i % len(domains)].name}/page/{i}",
                title=f"Page {i}",
                relevance=rng.randint(0, 10),
                depth=rng.randint(0, 3),
                http_status="200",
            )
            for i in range(start, min(page_count, start + BATCH))
        )
        page_ids.extend(page.pk for page in created)
    for start in range(0, media_count, BATCH):
        batch = []
        for i in range(start, min(media_count, start + BATCH)):
            page_id = page_ids[i % page_count]
            kind = i % 10
            if kind < 7:
                colours = rng.sample(WEBSAFE, 2)
                batch.append(
                    Media(
                        expression_id=page_id,
                        url=f"https://cdn.bench.invalid/{name}/{i}.jpg",
                        analysis_status="done",
                        is_processed=True,
                        width=rng.choice((90, 320, 800, 1600, 4000)),
                        height=rng.choice((90, 240, 600, 1200, 3000)),
                        file_size=rng.randint(1_000, 3_000_000),
                        format=rng.choice(FORMATS),
                        analysis_version=1,
                        dominant_colors=[{"hex": "#336699", "percentage": 60.0}],
                        websafe_colors={colours[0]: 70.0, colours[1]: 30.0},
                        is_conforming=True,
                    )
                )
            elif kind < 9:
                batch.append(Media(expression_id=page_id, url=f"https://x.bench.invalid/{name}/{i}.png"))
            else:
                batch.append(
                    Media(
                        expression_id=page_id,
                        url=f"https://x.bench.invalid/{name}/{i}.gif",
                        analysis_status="failed",
                        is_processed=True,
                        error_class=rng.choice(ERRORS),
                    )
                )
        Media.objects.bulk_create(batch)
    return land.pk


def build_cluster(land_id: int, members: int, seed: int = 7) -> int:
    """A near-duplicate cluster of ``members`` analysed images of the land, spread over its pages and sites,
    written as the clustering would have left it (hashes a few bits apart, the cluster's stored figures)."""
    from django.db.models import Count, Min

    from lands.models import Media
    from media_analysis.models import ImageCluster

    rng = random.Random(seed)
    images = Media.objects.of_land(land_id).filter(analysis_status="done").order_by("pk")
    step = max(1, images.count() // members)
    ids = list(images.values_list("pk", flat=True)[::step][:members])
    base = rng.getrandbits(64)
    for start in range(0, len(ids), BATCH):
        batch = []
        for media_id in ids[start : start + BATCH]:
            phash = base ^ sum(1 << b for b in rng.sample(range(64), rng.randint(0, 4)))
            hashes = {"phash": f"{phash:016x}", "dhash": f"{phash:016x}", "image_hash": f"{media_id:064x}"}
            batch.append(Media(pk=media_id, **hashes))
        Media.objects.bulk_update(batch, ["phash", "dhash", "image_hash"])
    first = Media.objects.select_related("expression").get(pk=ids[0])
    cluster = ImageCluster.objects.create(
        land_id=land_id, key=ids[0], representative_id=ids[0], size=len(ids), first_expression_id=first.expression_id,
        first_domain_id=first.expression.domain_id,
    )  # fmt: skip
    for start in range(0, len(ids), BATCH):
        Media.objects.filter(pk__in=ids[start : start + BATCH]).update(cluster_id=cluster.pk)
    spread = Media.objects.filter(cluster_id=cluster.pk).aggregate(
        domains=Count("expression__domain_id", distinct=True), pages=Count("expression_id", distinct=True),
        first=Min("expression__created_at"),
    )  # fmt: skip
    ImageCluster.objects.filter(pk=cluster.pk).update(
        distinct_domains=spread["domains"], distinct_pages=spread["pages"], first_seen_at=spread["first"]
    )
    return cluster.pk


def time_request(client, url: str, repeat: int) -> tuple[float, int, int]:
    """(median seconds, status, queries) of ``repeat`` GETs after one warm-up."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        status = client.get(url).status_code
    queries = len(captured.captured_queries)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(url)
        times.append(time.perf_counter() - started)
    return statistics.median(times), status, queries


def deep_cursor(position: int) -> str:
    """The ``cursor`` value of the page after ``position`` (the id of the last row seen), as a client reaches it."""
    from urllib.parse import parse_qs, urlsplit

    from rest_framework.pagination import Cursor

    from media_analysis.web.api.query import CorpusCursorPagination

    encoder = CorpusCursorPagination()
    encoder.base_url = "http://testserver/"
    link = encoder.encode_cursor(Cursor(offset=0, reverse=False, position=position))
    return parse_qs(urlsplit(link).query)["cursor"][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=int, default=200_000, help="media of the large land")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cluster", type=int, default=10_000, help="members of the large land's one big cluster")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="medianalyse-bench-pages-"))
    os.environ.pop("REDIS_URL", None)
    os.environ.update(
        MEDIANALYSE_VAR_DIR=str(workdir), DJANGO_SETTINGS_MODULE="medianalyse_site.settings", DJANGO_DEBUG="0"
    )
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))  # a scratch database, nothing signed
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from lands.aggregates import refresh_land_aggregates
    from lands.models import Domain, Expression, Land, Media
    from media_analysis.models import ImageCluster
    from media_analysis.web.admin.clusters import MEMBERS_SHOWN

    call_command("migrate", verbosity=0)
    if connection.vendor == "postgresql":
        call_command("flush", interactive=False, verbosity=0)
    settings.ALLOWED_HOSTS = ["testserver"]
    engine = connection.vendor
    print(f"{engine}, Python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.media:,} media", flush=True)
    try:
        started = time.perf_counter()
        domains = Domain.objects.bulk_create(Domain(name=f"site{i}.bench.invalid") for i in range(SITES))
        land_id = build_land("large", args.media, domains)
        for index in range(SMALL_LANDS):
            build_land(f"small-{index:02d}", 200 + 50 * index, domains, seed=index)
        if connection.vendor == "postgresql":
            # What autovacuum would have done by the time a real land is browsed: the planner's statistics.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
        cluster_id = build_cluster(land_id, min(args.cluster, args.media // 2))
        built = time.perf_counter() - started
        started = time.perf_counter()
        for land in Land.objects.all():
            refresh_land_aggregates(land.pk)
        refreshed = time.perf_counter() - started
        print(f"<!-- built in {built:.1f} s; aggregates refreshed in {refreshed:.1f} s -->", flush=True)

        user = get_user_model().objects.create_superuser("bench", "bench@bench.invalid", "bench")
        client = Client()
        client.force_login(user)
        media_ids = list(Media.objects.of_land(land_id).order_by("pk").values_list("pk", flat=True)[::BATCH])
        deep_media = media_ids[int(len(media_ids) * 0.9)]
        page_ids = list(Expression.objects.filter(land_id=land_id).order_by("pk").values_list("pk", flat=True))
        deep_page = page_ids[int(len(page_ids) * 0.9)]
        small_id = Land.objects.get(name="small-00").pk
        lands = reverse("admin:lands_land_changelist")
        cluster_size = ImageCluster.objects.get(pk=cluster_id).size
        cluster_page = reverse("medianalyse_clusters:cluster-detail", args=[cluster_id])
        last_page = -(-cluster_size // MEMBERS_SHOWN)
        steps = [
            ("lands list", lands),
            *((f"lands list sorted by column {column}", f"{lands}?o={column}") for column in range(1, 8)),
            ("lands list sorted by media, descending", f"{lands}?o=-5"),
            ("land analysis page (charts)", reverse("medianalyse:land-analysis", args=[land_id])),
            ("gallery", reverse("medianalyse:land-gallery", args=[land_id])),
            ("media list (admin)", reverse("admin:lands_media_changelist")),
            (
                "media list of the land (admin)",
                reverse("admin:lands_media_changelist") + f"?expression__land__id__exact={land_id}",
            ),
            ("expressions list (admin)", reverse("admin:lands_expression_changelist")),
            ("cluster list", reverse("medianalyse_clusters:land-clusters", args=[land_id])),
            (f"cluster page, {cluster_size:,} members", cluster_page),
            (f"cluster page, {cluster_size:,} members, last page of members", f"{cluster_page}?page={last_page}"),
            (f"API cluster, {cluster_size:,} members", f"/api/clusters/{cluster_id}/"),
            ("API lands", "/api/lands/"),
            ("API media, first page", f"/api/media/?land={land_id}"),
            ("API media, 90 % deep", f"/api/media/?land={land_id}&cursor={quote(deep_cursor(deep_media))}"),
            ("API media of a small land", f"/api/media/?land={small_id}"),
            ("API media, all lands, 90 % deep", f"/api/media/?cursor={quote(deep_cursor(deep_media))}"),
            ("API expressions, first page", f"/api/expressions/?land={land_id}"),
            ("API expressions, 90 % deep", f"/api/expressions/?land={land_id}&cursor={quote(deep_cursor(deep_page))}"),
        ]
        print()
        print("| request | status | queries | median s |")
        print("|---|---:|---:|---:|")
        for label, url in steps:
            seconds, status, queries = time_request(client, url, args.repeat)
            print(f"| {label} | {status} | {queries} | {seconds:.3f} |", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
