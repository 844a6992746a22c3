"""Clustering a land where each picture repeats many times: peak memory and CPU, one case per process.

A measurement, run by hand (one process per case, since the peak resident size is the process's):

    .venv/bin/python bench/cluster_repeated.py --groups 50 --copies 400 [--near] [--through engine|raw|land]

``--groups`` pictures, each served ``--copies`` times under distinct bytes (distinct
SHA-256) with identical hashes; with ``--near`` each copy has one or two bits of its
pHash and dHash flipped instead (near-identical copies: nothing to fold). Region hashes
as the analysis stores them (eleven regions, identical within a picture).

``--through``: ``engine`` clusters the hash arrays as the service does (identical copies
folded, :func:`fold_identical`); ``raw`` gives every copy to the clusterer (the former
behaviour); ``land`` writes the media to a scratch database (DATABASE_URL, else SQLite
under --var-dir) and runs ``clusters.compute.recluster_land`` on it.

Prints the peak resident size (VmHWM) before and after the clustering, its CPU time, the
number of clusters and their sizes, and a digest of the partition (to compare versions).
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _hwm_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _flip(value: int, rng: random.Random, bits: int) -> int:
    for bit in rng.sample(range(64), bits):
        value ^= 1 << bit
    return value


def _rows(groups: int, copies: int, near: bool, rng: random.Random) -> list[tuple[int, int, str]]:
    from media_analysis.engine.image.regions import REGION_COUNT, RegionHashes

    rows = []
    for _ in range(groups):
        phash, dhash = rng.getrandbits(64), rng.getrandbits(64)
        regions = [rng.getrandbits(64) for _ in range(2 * REGION_COUNT)]
        pairs = tuple((regions[2 * i], regions[2 * i + 1]) for i in range(REGION_COUNT))
        region_hex = RegionHashes(box=(0, 0, 1000, 1000), hashes=pairs).hex()
        for _ in range(copies):
            if near:
                rows.append((_flip(phash, rng, rng.randint(1, 2)), _flip(dhash, rng, rng.randint(1, 2)), region_hex))
            else:
                rows.append((phash, dhash, region_hex))
    rng.shuffle(rows)
    return rows


def _digest(groups: list[list[int]]) -> str:
    return hashlib.sha256(repr(sorted(groups)).encode()).hexdigest()[:12]


def _engine(rows: list[tuple[int, int, str]], fold: bool) -> list[list[int]]:
    from media_analysis.engine.duplicates.clusterer import NearDuplicateClusterer, fold_identical
    from media_analysis.engine.duplicates.hashes import HashArrays

    n = len(rows)
    items = HashArrays.from_stored(
        list(range(1, n + 1)),
        [f"{i:064x}" for i in range(n)],
        [f"{p:016x}" for p, _, _ in rows],
        [f"{d:016x}" for _, d, _ in rows],
        [None] * n,
        [r for _, _, r in rows],
    )
    del rows
    before, cpu = _hwm_mib(), time.process_time()
    clusterer = NearDuplicateClusterer()
    if fold:
        copies = fold_identical(items)
        clusterer.add(copies.distinct)
        groups = copies.expand(clusterer.clusters())
    else:
        clusterer.add(items)
        groups = clusterer.clusters()
    print(f"clustering: {time.process_time() - cpu:.2f} s CPU; VmHWM {before:.0f} -> {_hwm_mib():.0f} MiB")
    return groups


def _land(rows: list[tuple[int, int, str]], var_dir: str) -> list[list[int]]:
    os.environ.setdefault("MEDIANALYSE_VAR_DIR", var_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medianalyse_site.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))  # a scratch database, nothing signed
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from lands.models import AnalysisStatus, Domain, Expression, Land, Media
    from media_analysis.clusters import compute

    call_command("migrate", verbosity=0)
    stamp = secrets.token_hex(4)
    with transaction.atomic():
        land = Land.objects.create(name=f"repeated-{stamp}")
        domain = Domain.objects.create(name=f"repeated-{stamp}.example")
        pages = Expression.objects.bulk_create(
            [
                Expression(land=land, domain=domain, url=f"https://p{i}.{stamp}.example/", fetched_at=timezone.now())
                for i in range(-(-len(rows) // 20))
            ],
            batch_size=2000,
        )
        media = Media.objects.bulk_create(
            [
                Media(
                    expression=pages[i // 20],
                    url=f"https://cdn.example/{stamp}/{i}.jpg",
                    analysis_status=AnalysisStatus.DONE,
                    image_hash=f"{i:064x}",
                    phash=f"{p:016x}",
                    dhash=f"{d:016x}",
                    region_hashes=r,
                    width=640,
                    height=480,
                    file_size=50_000,
                    analyzed_at=timezone.now(),
                )
                for i, (p, d, r) in enumerate(rows)
            ],
            batch_size=2000,
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    position = {m.pk: i + 1 for i, m in enumerate(media)}
    del rows, media
    before, cpu = _hwm_mib(), time.process_time()
    compute.recluster_land(land.pk)
    print(f"recluster_land: {time.process_time() - cpu:.2f} s CPU; VmHWM {before:.0f} -> {_hwm_mib():.0f} MiB")
    groups: dict[int, list[int]] = {}
    for mid, cid in Media.objects.filter(expression__land=land, cluster__isnull=False).values_list("pk", "cluster_id"):
        groups.setdefault(cid, []).append(position[mid])
    return [sorted(members) for members in groups.values()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=50)
    parser.add_argument("--copies", type=int, default=400)
    parser.add_argument("--near", action="store_true", help="Copies one or two bits off instead of identical")
    parser.add_argument("--through", choices=("engine", "raw", "land"), default="engine")
    parser.add_argument("--var-dir", default="/tmp/medianalyse-repeated", help="Scratch directory (SQLite database)")
    options = parser.parse_args()
    rows = _rows(options.groups, options.copies, options.near, random.Random(20261205))
    kind = "near-identical" if options.near else "identical"
    print(f"{options.groups} x {options.copies} {kind} copies through {options.through}")
    if options.through == "land":
        groups = _land(rows, options.var_dir)
    else:
        groups = _engine(rows, fold=options.through == "engine")
    sizes = sorted({len(members) for members in groups})
    print(f"{len(groups)} clusters, sizes {sizes}; partition {_digest(groups)}")


if __name__ == "__main__":
    main()
