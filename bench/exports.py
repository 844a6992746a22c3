"""Export time, peak memory and query count on lands of 10,000 and 100,000 media.

Builds each land with bulk_create in a throwaway SQLite database (a temporary
MEDIANALYSE_VAR_DIR), then runs every export type twice: once timed, writing to
a file, and once under tracemalloc for the peak of Python allocations during the
export. Memory is flat when the peak does not grow with the land.

    .venv/bin/python bench/exports.py [--sizes 10000,100000] [--types pagecsv,mediagexf,...]

Prints a Markdown table (docs/EXPORTS.md keeps the last one).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exports.services import ExportCounts

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 5000
DOMAINS = 200


def build_land(name: str, media_count: int, seed: int = 7):
    """A land shaped like a crawl: 10 media per page, 3 links per page, ~2 uses per analysed image."""
    from lands.models import Domain, Expression, ExpressionLink, Land, Media, Tag, TaggedContent

    rng = random.Random(seed)
    land = Land.objects.create(name=name)
    domains = Domain.objects.bulk_create(
        Domain(name=f"{name}-site{i}.bench.invalid", title=f"Site {i}") for i in range(DOMAINS)
    )
    page_count = max(1, media_count // 10)
    page_ids: list[int] = []
    for start in range(0, page_count, BATCH):
        created = Expression.objects.bulk_create(
            Expression(
                land=land,
                domain=domains[i % DOMAINS],
                url=f"https://{domains[i % DOMAINS].name}/page/{i}",
                title=f'Page {i} "quoted", with\nnewline',
                description="A crawled page " * 5,
                keywords="media,analysis",
                readable="Readable text of the page. " * 40,
                relevance=rng.randint(0, 10),
                depth=rng.randint(0, 3),
            )
            for i in range(start, min(page_count, start + BATCH))
        )
        page_ids.extend(page.pk for page in created)

    pairs = {(rng.choice(page_ids), rng.choice(page_ids)) for _ in range(3 * page_count)}
    links = [(source, target) for source, target in pairs if source != target]
    for start in range(0, len(links), BATCH):
        ExpressionLink.objects.bulk_create(
            ExpressionLink(source_id=source, target_id=target) for source, target in links[start : start + BATCH]
        )

    tags = Tag.objects.bulk_create(Tag(land=land, name=f"tag{i}") for i in range(10))
    TaggedContent.objects.bulk_create(
        TaggedContent(tag=tags[i % 10], expression_id=page_ids[i], text="quote") for i in range(0, page_count, 7)
    )

    distinct_images = max(1, media_count // 3)
    for start in range(0, media_count, BATCH):
        batch = []
        for i in range(start, min(media_count, start + BATCH)):
            page_id = page_ids[i % page_count]
            if i % 10 < 7:  # analysed: the same bytes reappear on other pages and sites
                image = rng.randrange(distinct_images)
                digest = hashlib.sha256(f"{name}-{image}".encode()).hexdigest()
                batch.append(
                    Media(
                        expression_id=page_id,
                        url=f"https://cdn.bench.invalid/{name}/{image}/{i}.jpg",
                        analysis_status="done",
                        is_processed=True,
                        width=800,
                        height=600,
                        file_size=120_000 + image,
                        format="JPEG",
                        color_mode="RGB",
                        mime_type="image/jpeg",
                        has_transparency=False,
                        aspect_ratio=1.33,
                        frames=1,
                        image_hash=digest,
                        phash=digest[:16],
                        dhash=digest[16:32],
                        ahash=digest[32:48],
                        colorhash=digest[48:62],
                        dominant_colors=[
                            {"rgb": [image % 256, 40, 90], "hex": f"#{image % 256:02x}285a", "percentage": 61.2},
                            {"rgb": [250, 250, 250], "hex": "#fafafa", "percentage": 38.8},
                        ],
                        websafe_colors={"#003366": 61.2, "#ffffff": 38.8},
                        exif_make="Canon",
                        exif_model="EOS",
                        is_conforming=True,
                    )
                )
            else:  # pending, a few shared URLs (logos) among them
                url = f"https://cdn.bench.invalid/logo-{i % 50}.png" if i % 5 == 0 else f"https://x.invalid/{i}.png"
                batch.append(Media(expression_id=page_id, url=url, type="img" if i % 4 else "video"))
        Media.objects.bulk_create(batch, ignore_conflicts=True)
    return land


def run(land, export_type: str, params: dict, path: Path) -> tuple[float, ExportCounts, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from exports.services import prepare_export

    export = prepare_export(land, export_type, **params)
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as captured, path.open("wb") as stream:
        export.write_to(stream)
    return time.perf_counter() - started, export.counts, len(captured.captured_queries)


def peak_mib(land, export_type: str, params: dict, path: Path) -> float:
    from exports.services import prepare_export

    export = prepare_export(land, export_type, **params)
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        with path.open("wb") as stream:
            export.write_to(stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="media per land, comma-separated")
    parser.add_argument("--types", default="", help="export types (default: all)")
    parser.add_argument("--minrel", type=int, default=0, help="0 exports every page (the worst case)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="medianalyse-bench-exports-"))
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    os.environ.update(MEDIANALYSE_VAR_DIR=str(workdir), DJANGO_SETTINGS_MODULE="medianalyse_site.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))  # a scratch database, nothing signed
    import django

    django.setup()
    from django.core.management import call_command

    from exports.services import EXPORT_TYPES

    call_command("migrate", verbosity=0)
    types = [t for t in args.types.split(",") if t] or list(EXPORT_TYPES)
    variants = []
    for export_type in types:
        variants.append((export_type, {"minrel": args.minrel}))
        if export_type == "mediagexf":
            variants.append((export_type, {"minrel": args.minrel, "nodes": "domain"}))

    print(f"SQLite in {workdir}, Python {sys.version.split()[0]}, {os.cpu_count()} cores", flush=True)
    print()
    print("| media | export | records | edges | queries | seconds | peak MiB (tracemalloc) | file MiB |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            started = time.perf_counter()
            land = build_land(f"bench{size}", size)
            print(f"<!-- land of {size} media built in {time.perf_counter() - started:.1f} s -->", flush=True)
            for export_type, params in variants:
                label = export_type + (" --nodes domain" if params.get("nodes") == "domain" else "")
                path = workdir / f"out-{size}-{export_type}"
                seconds, counts, queries = run(land, export_type, params, path)
                peak = peak_mib(land, export_type, params, path)
                size_mib = path.stat().st_size / 2**20
                edges = counts.edges if EXPORT_TYPES[export_type].extension == "gexf" else "-"
                print(
                    f"| {size:,} | {label} | {counts.records:,} | {edges if edges == '-' else f'{edges:,}'} "
                    f"| {queries} | {seconds:.2f} | {peak:.1f} | {size_mib:.1f} |",
                    flush=True,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
