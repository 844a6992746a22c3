"""The image wall on a land of 50,000 media: a page in each order, the whole page view, the PNG.

Builds the land with bulk_create in a throwaway SQLite database (a temporary
MEDIANALYSE_VAR_DIR): every media analysed, with random dominant colours, sizes,
page dates, a cluster for one in five, and a stored thumbnail. Thumbnails are
320 x 240 JPEGs like the analysis keeps; to build quickly, a pool of distinct
pictures is written once each (as a land's shared pictures are: keys are
content-addressed) and the media draw from it.

Then, for each order: ``wall_page`` on the first and the last page (queries and
seconds with an empty cache, then the median of --runs, each with its CPU
seconds), the page view through Django's test client (render included), and
the PNG download for a few (max_media, tile) pairs, streamed to a file:
seconds, megabytes, and how far the process's resident memory rose above its
level before the download while the PNG streamed.

    .venv/bin/python bench/wall.py [--media 50000] [--pool 2000] [--runs 5]

Prints Markdown (docs/benchmarks/wall.md keeps the last run).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import resource
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 5000
PAGES = 5000
CLUSTERS = 3000


def write_pool(pool: int, rng: random.Random) -> list[str]:
    """``pool`` distinct stored thumbnails (gradients of random colours); their keys."""
    from PIL import Image

    from media_analysis import stored

    keys = []
    for index in range(pool):
        colour = tuple(rng.randrange(256) for _ in range(3))
        # Noise over a gradient: thumbnails of photos compress about as badly.
        image = Image.blend(Image.linear_gradient("L").resize((320, 240)), Image.effect_noise((320, 240), 60), 0.5)
        picture = Image.blend(image.convert("RGB"), Image.new("RGB", image.size, colour), 0.6)
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=80)
        sha = hashlib.sha256(f"pool-{index}".encode()).hexdigest()
        keys.append(stored.save_thumbnail(sha, buffer.getvalue(), size=320, extension="jpg"))
    return keys


def build_land(media_count: int, keys: list[str], rng: random.Random):
    from django.db import transaction

    from lands.models import AnalysisStatus, Domain, Expression, Land, Media
    from media_analysis.models import ImageCluster

    land = Land.objects.create(name=f"wall{media_count}")
    domains = Domain.objects.bulk_create(Domain(name=f"site{i}.wall.invalid") for i in range(100))
    start = datetime(2015, 1, 1, tzinfo=UTC)
    pages = Expression.objects.bulk_create(
        Expression(
            land=land,
            domain=domains[i % 100],
            url=f"https://{domains[i % 100].name}/page/{i}",
            published_at=start + timedelta(days=rng.randrange(3000)) if i % 3 else None,
        )
        for i in range(PAGES)
    )
    rows = []
    for i in range(media_count):
        colour = [rng.randrange(256) for _ in range(3)]
        width = rng.randrange(50, 4000)
        rows.append(
            Media(
                expression=pages[i % PAGES],
                url=f"https://cdn.wall.invalid/{i}.jpg",
                analysis_status=AnalysisStatus.DONE,
                is_processed=True,
                analysis_version=1,
                format="JPEG",
                width=width,
                height=width * 3 // 4,
                file_size=rng.randrange(5_000, 2_000_000),
                dominant_colors=[
                    {"rgb": colour, "hex": "#{:02x}{:02x}{:02x}".format(*colour), "percentage": 55.0},
                    {"rgb": [250, 250, 250], "hex": "#fafafa", "percentage": 30.0},
                ],
                thumbnail_key=keys[i % len(keys)],
            )
        )
    for offset in range(0, len(rows), BATCH):
        Media.objects.bulk_create(rows[offset : offset + BATCH])
    ids = list(Media.objects.of_land(land.pk).values_list("pk", flat=True))
    clusters = ImageCluster.objects.bulk_create(
        ImageCluster(land=land, key=ids[i], size=0) for i in range(min(CLUSTERS, len(ids)))
    )
    members: dict[int, list[int]] = {}
    for media_id in rng.sample(ids, media_count // 5):
        members.setdefault(clusters[media_id % len(clusters)].pk, []).append(media_id)
    with transaction.atomic():
        for cluster_id, media_ids in members.items():
            Media.objects.filter(pk__in=media_ids).update(cluster_id=cluster_id)
    return land


def resident_mib() -> float:
    """The process's resident memory now (Pillow's buffers are not Python allocations: tracemalloc misses them)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def timed(function) -> tuple[float, float]:
    """Wall-clock and CPU seconds of one call (SQLite runs in this process: its work is in the CPU time)."""
    started, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - started, time.process_time() - cpu


def median_seconds(function, runs: int) -> tuple[float, float]:
    times = [timed(function) for _ in range(runs)]
    return statistics.median(t for t, _ in times), statistics.median(c for _, c in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=int, default=50_000)
    parser.add_argument("--pool", type=int, default=2_000, help="distinct stored thumbnails")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="medianalyse-bench-wall-"))
    for name in ("DATABASE_URL", "REDIS_URL", "MEDIA_ANALYSIS_STORAGE_BACKEND", "MEDIA_ANALYSIS_STORAGE_OPTIONS"):
        os.environ.pop(name, None)
    os.environ.update(MEDIANALYSE_VAR_DIR=str(workdir), DJANGO_SETTINGS_MODULE="medianalyse_site.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))  # a scratch database, nothing signed
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.http import StreamingHttpResponse
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from PIL import Image

    from media_analysis.web import wall

    setup_test_environment()
    call_command("migrate", verbosity=0)
    rng = random.Random(11)
    try:
        started = time.perf_counter()
        keys = write_pool(args.pool, rng)
        land = build_land(args.media, keys, rng)
        built = time.perf_counter() - started
        print(f"SQLite and stored files in {workdir}, Python {sys.version.split()[0]}, {os.cpu_count()} cores")
        print(f"<!-- {args.media:,} media, {args.pool:,} distinct thumbnails, built in {built:.1f} s -->")
        print()
        print(
            f"| order | page | queries, empty cache | wall_page s (CPU), empty cache "
            f"| wall_page median s (CPU), {args.runs} runs | page view median s (CPU) |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        admin = get_user_model().objects.create_superuser("bench", "bench@example.org", None)
        client = Client()
        client.force_login(admin)
        for sort in wall.SORTS:
            last = -(-args.media // wall.PAGE_SIZE)
            for number in (1, last):
                form = wall.WallQueryForm({"land": land.pk, "sort": sort, "page": number})
                assert form.is_valid(), form.problems()
                query = form.wall_query()
                cache.clear()
                started, cpu = time.perf_counter(), time.process_time()
                with CaptureQueriesContext(connection) as captured:
                    page = wall.wall_page(query)
                first, first_cpu = time.perf_counter() - started, time.process_time() - cpu
                queries = len(captured.captured_queries)  # read now: each request clears the log
                assert page.items, (sort, number)
                seconds, seconds_cpu = median_seconds(lambda query=query: wall.wall_page(query), args.runs)

                def view(sort=sort, number=number) -> None:
                    response = client.get("/admin/medianalyse/wall/", {"land": land.pk, "sort": sort, "page": number})
                    assert response.status_code == 200

                viewed, viewed_cpu = median_seconds(view, args.runs)
                print(
                    f"| {sort} | {number} | {queries} | {first:.3f} ({first_cpu:.3f}) "
                    f"| {seconds:.3f} ({seconds_cpu:.3f}) | {viewed:.3f} ({viewed_cpu:.3f}) |",
                    flush=True,
                )
        print()
        print("| PNG order | max_media | tile | columns | pixels | seconds (CPU) | MB | RSS rise streaming, MiB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for sort, max_media, tile in (("hue", 1000, 64), ("date", 1000, 64), ("hue", 10_000, 32), ("size", 10_000, 64)):
            columns = 100
            before = resident_mib()
            highest = before
            started, cpu = time.perf_counter(), time.process_time()
            response = client.get(
                "/admin/medianalyse/wall.png",
                {"land": land.pk, "sort": sort, "max_media": max_media, "tile": tile, "columns": columns},
            )
            assert response.status_code == 200
            assert isinstance(response, StreamingHttpResponse)
            out = workdir / "wall.png"
            with out.open("wb") as stream:
                for chunk in response.streaming_content:
                    stream.write(chunk)
                    highest = max(highest, resident_mib())
            seconds, seconds_cpu = time.perf_counter() - started, time.process_time() - cpu
            grown = highest - before
            with Image.open(out) as composed:  # reads the header: the size the wall really had
                pixels = composed.width * composed.height
            print(
                f"| {sort} | {max_media:,} | {tile} | {columns} | {pixels / 1e6:.1f} M "
                f"| {seconds:.2f} ({seconds_cpu:.2f}) | {out.stat().st_size / 1e6:.1f} | {grown:.0f} |",
                flush=True,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
