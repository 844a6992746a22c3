"""Clustering a land of 100,000 images through the database: full and incremental runs, timed.

A measurement, run by hand on a scratch database:

    .venv/bin/python bench/cluster_scale.py [--images 100000] [--new 1000] [--var-dir /tmp/medianalyse-scale]

Hashes are synthetic, as in bench/duplicates.py: random 64-bit pHash and dHash, 90 %
unique images, 10 % in planted groups of 2-6 copies of a base (0-5 pHash bits and 0-8
dHash bits flipped), a SHA-256 per image, and random region hashes (eleven regions, as
the analysis stores them; a planted copy has its base's, a few bits flipped). Pages hold
20 images each, 20 pages per domain.
With DATABASE_URL set the land goes to PostgreSQL, whose tables are analysed after loading.

After each step the last column is a digest of the land's clusters: each cluster's members,
representative, first page and counts, by the media's and pages' URLs (which are the
same in every run, whatever the ids the database gives), so that two versions of the code
can be checked to write the same clusters and memberships.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import secrets
import sys
import time
from pathlib import Path


def _setup(var_dir: str) -> None:
    os.environ.setdefault("MEDIANALYSE_VAR_DIR", var_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medianalyse_site.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))  # a scratch database, nothing signed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _regions(rng: random.Random, base: list[int] | None = None) -> str:
    from media_analysis.engine.image.regions import REGION_COUNT, RegionHashes

    values = base or [rng.getrandbits(64) for _ in range(2 * REGION_COUNT)]
    flipped = [v ^ (1 << rng.randrange(64)) for v in values] if base else values
    pairs = tuple((flipped[2 * i], flipped[2 * i + 1]) for i in range(REGION_COUNT))
    return RegionHashes(box=(0, 0, 1000, 1000), hashes=pairs).hex()


def _hashes(count: int, rng: random.Random) -> list[tuple[int, int, str]]:
    from media_analysis.engine.image.regions import REGION_COUNT

    planted = count // 10
    out: list[tuple[int, int, str]] = []
    while len(out) < planted:
        base, dbase = rng.getrandbits(64), rng.getrandbits(64)
        rbase = [rng.getrandbits(64) for _ in range(2 * REGION_COUNT)]
        for _ in range(rng.randint(2, 6)):
            out.append(
                (
                    base ^ sum(1 << b for b in rng.sample(range(64), rng.randint(0, 5))),
                    dbase ^ sum(1 << b for b in rng.sample(range(64), rng.randint(0, 8))),
                    _regions(rng, rbase),
                )
            )
    out = out[:planted]
    out += [(rng.getrandbits(64), rng.getrandbits(64), _regions(rng)) for _ in range(count - len(out))]
    rng.shuffle(out)
    return out


def _timed(label: str, land_id: int, function, *args):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    wall, cpu = time.perf_counter(), time.process_time()
    with CaptureQueriesContext(connection) as captured:
        result = function(*args)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"| {label} | {wall:.2f} s | {cpu:.2f} s | {len(captured)} | {_describe(result)} | {_digest(land_id)} |")
    return result


def _digest(land_id: int) -> str:
    """A digest of the land's clusters and memberships that does not depend on database ids."""
    from lands.models import Media
    from media_analysis.models import ImageCluster

    members: dict[int, list[str]] = {}
    for cluster_id, url in Media.objects.filter(expression__land_id=land_id, cluster__isnull=False).values_list(
        "cluster_id", "url"
    ):
        members.setdefault(cluster_id, []).append(url)
    clusters = ImageCluster.objects.filter(land_id=land_id).values_list(
        "id", "representative__url", "first_expression__url", "size", "distinct_pages", "distinct_domains"
    )
    lines = sorted(f"{sorted(members.get(cid, []))} {rest}" for cid, *rest in clusters)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]


def _describe(report) -> str:
    if report is None:
        return ""
    return (
        f"{report.mode}; {report.region:,} clustered again; {report.clusters:,} clusters; "
        f"{report.created:,} created, {report.updated:,} updated, {report.deleted:,} deleted; "
        f"{report.media_changed:,} media moved"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=1_000, help="Media analysed after the first run")
    parser.add_argument("--no-regions", action="store_true", help="Media without region hashes (the baseline)")
    parser.add_argument("--var-dir", default="/tmp/medianalyse-scale", help="Scratch directory (SQLite database)")
    options = parser.parse_args()
    _setup(options.var_dir)

    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from lands.models import AnalysisStatus, Domain, Expression, Land, Media
    from media_analysis.clusters import compute, queries

    rng = random.Random(20261124)
    total = options.images + options.new
    pairs = _hashes(total, rng)
    stamp = int(time.time())
    with transaction.atomic():
        land = Land.objects.create(name=f"scale-{stamp}")
        domains = Domain.objects.bulk_create(
            [Domain(name=f"d{i}.scale-{stamp}.example") for i in range(-(-total // 400))], batch_size=2000
        )
        pages = Expression.objects.bulk_create(
            [
                Expression(land=land, domain=domains[i // 20], url=f"https://p{i}.example/", fetched_at=timezone.now())
                for i in range(-(-total // 20))
            ],
            batch_size=2000,
        )
        rows = [
            Media(
                expression=pages[i // 20],
                url=f"https://cdn.example/{i}.jpg",
                analysis_status=AnalysisStatus.DONE if i < options.images else AnalysisStatus.PENDING,
                image_hash=f"{i:064x}",
                phash=f"{p:016x}",
                dhash=f"{d:016x}",
                region_hashes=None if options.no_regions else r,
                width=640,
                height=480,
                file_size=50_000 + i % 997,
                # Analysed well before the first run: not "new" for the incremental runs after it.
                analyzed_at=timezone.now() - timedelta(hours=1),
            )
            for i, (p, d, r) in enumerate(pairs)
        ]
        Media.objects.bulk_create(rows, batch_size=2000)
    if connection.vendor == "postgresql":
        # Fresh tables have no statistics yet; a real land has been analysed long before.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    new_ids = [m.pk for m in rows[options.images :]]
    print(f"Land {land.pk}: {options.images:,} analysed images, {options.new:,} more to come\n")
    print("| step | wall time | CPU time | queries | result | clusters (digest) |")
    print("|---|---|---|---|---|---|")
    _timed(f"full, first run ({options.images:,} images)", land.pk, compute.recluster_land, land.pk)
    _timed("full, nothing changed", land.pk, compute.recluster_land, land.pk)
    Media.objects.filter(pk__in=new_ids).update(analysis_status=AnalysisStatus.DONE, analyzed_at=timezone.now())
    _timed(f"incremental, {options.new:,} new media", land.pk, compute.update_clusters_for_media, land.pk, new_ids)
    _timed("full after the incremental run (must change nothing)", land.pk, compute.recluster_land, land.pk)
    _timed("incremental, nothing new since the last run", land.pk, compute.update_clusters_for_new_media, land.pk)
    cluster = queries.clusters_of_land(land.pk).first()
    assert cluster is not None, "the land has clusters"
    _timed("details of the most spread cluster", land.pk, lambda: queries.cluster_details(cluster.pk) and None)


if __name__ == "__main__":
    main()
