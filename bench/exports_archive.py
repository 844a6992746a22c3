"""The dataset archive (export type ``archive``): time, peak memory and zip size by media and by stored file.

Builds lands in a throwaway SQLite database and storage (a temporary
MEDIANALYSE_VAR_DIR): ``media`` media rows, all analysed, whose thumbnails are
``files`` distinct stored files of 8 KiB (incompressible, as JPEG is), each
shared by media / files rows. Each archive is written once to a file, timed,
then once more under tracemalloc for the peak of Python allocations.

The rows must not move the peak (they stream); the files move it only by the
zip's central directory, one record per file, which ``zipfile`` keeps until the
end. Runs that differ only in media show the first; runs that differ only in
files, the second.

    .venv/bin/python bench/exports_archive.py [--runs 10000:1000,100000:1000,10000:10000,50000:50000]

Prints a Markdown table (docs/benchmarks/exports_archive.md keeps the last one).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BATCH = 5000
FILE_BYTES = 8 * 1024


def build_land(name: str, media_count: int, file_count: int):
    from lands.models import Domain, Expression, Land, Media
    from media_analysis.stored import save_thumbnail

    land = Land.objects.create(name=name)
    domain = Domain.objects.create(name=f"{name}.bench.invalid")
    page_count = max(1, media_count // 10)
    pages = Expression.objects.bulk_create(
        Expression(land=land, domain=domain, url=f"https://{domain.name}/page/{i}", relevance=1, depth=0)
        for i in range(page_count)
    )
    hashes, keys = [], []
    for number in range(file_count):
        digest = hashlib.sha256(f"{name}-{number}".encode()).hexdigest()
        data = (hashlib.sha256(digest.encode()).digest() * (FILE_BYTES // 32 + 1))[:FILE_BYTES]
        hashes.append(digest)
        keys.append(save_thumbnail(digest, data, size=320, extension="jpg"))
    for start in range(0, media_count, BATCH):
        Media.objects.bulk_create(
            Media(
                expression_id=pages[i % page_count].pk,
                url=f"https://cdn.bench.invalid/{name}/{i}.jpg",
                analysis_status="done",
                is_processed=True,
                width=800,
                height=600,
                format="JPEG",
                image_hash=hashes[i % file_count],
                thumbnail_key=keys[i % file_count],
                exif_make="Canon",
            )
            for i in range(start, min(media_count, start + BATCH))
        )
    return land


def measure(land, path: Path) -> tuple[float, float, int, int]:
    from exports.services import prepare_export

    export = prepare_export(land, "archive", minrel="all")
    started = time.perf_counter()
    with path.open("wb") as stream:
        export.write_to(stream)
    seconds = time.perf_counter() - started
    files = export.counts.files

    export = prepare_export(land, "archive", minrel="all")
    tracemalloc.start()
    try:
        with path.open("wb") as stream:
            export.write_to(stream)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return seconds, peak / 2**20, files, path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--runs", default="10000:1000,100000:1000,10000:10000,50000:50000", help="media:files, comma-separated"
    )
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="medianalyse-bench-archive-"))
    for name in ("DATABASE_URL", "REDIS_URL", "MEDIA_ANALYSIS_STORAGE_BACKEND", "MEDIA_ANALYSIS_STORAGE_OPTIONS"):
        os.environ.pop(name, None)
    os.environ.update(MEDIANALYSE_VAR_DIR=str(workdir), DJANGO_SETTINGS_MODULE="medianalyse_site.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))  # a scratch database, nothing signed
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"SQLite and file storage in {workdir}, Python {sys.version.split()[0]}, {os.cpu_count()} cores", flush=True)
    print()
    print("| media | stored files | seconds | peak MiB (tracemalloc) | zip MiB |")
    print("|---:|---:|---:|---:|---:|")
    try:
        for run in args.runs.split(","):
            media, files = (int(part) for part in run.split(":"))
            land = build_land(f"bench{media}x{files}", media, files)
            seconds, peak, written, size = measure(land, workdir / f"archive-{media}-{files}.zip")
            assert written == min(media, files), (written, files)
            print(f"| {media:,} | {files:,} | {seconds:.2f} | {peak:.1f} | {size / 2**20:.1f} |", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
