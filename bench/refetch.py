"""A forced re-analysis of an unchanged land against its first analysis: conditional requests and 304s.

Builds a land of images (the engine benchmark's mix, bench/_images.py) served by a
local HTTP server in its own process that adds latency to every response, sends an
``ETag`` and a ``Last-Modified`` with each image and answers a matching
``If-None-Match`` with 304. Then, in this process, on the same land:

* the first analysis (every media downloaded and analysed);
* a forced re-analysis (every media answered 304, values kept), ``--repeat`` times;
* a forced re-analysis with ``MEDIA_ANALYSIS_CONDITIONAL_REQUESTS`` off (everything
  downloaded and analysed again), ``--repeat`` times.

Each run is a job through the service steps (create, plan, every chunk in turn),
so the database writes are counted. Prints wall seconds, media per second and
this process's CPU seconds (every thread: downloads, analyses, writes; the
server's are apart), and the ratios of the medians.

    .venv/bin/python bench/refetch.py [--media 1000] [--latency 0.05] [--repeat 3]

Runs on the embedded default (SQLite) in a throwaway directory.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAST_MODIFIED = "Tue, 01 Dec 2026 10:00:00 GMT"


def _serve_forever(pool: list[bytes], latency: float, port_pipe) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:
            pass

        def do_GET(self) -> None:
            index = int(self.path.rsplit("/", 1)[1])
            body = pool[index % len(pool)]
            etag = f'"img-{index}"'
            time.sleep(latency)
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", LAST_MODIFIED)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

    server = Server(("127.0.0.1", 0), Handler)
    port_pipe.send(server.server_address[1])
    server.serve_forever()


def serve(pool: list[bytes], latency: float) -> tuple[multiprocessing.process.BaseProcess, str]:
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(target=_serve_forever, args=(pool, latency, sending), daemon=True)
    process.start()
    return process, f"http://127.0.0.1:{receiving.recv()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pool", type=int, default=25, help="distinct images per group of the mix")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="medianalyse-bench-refetch-"))
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    os.environ.update(
        MEDIANALYSE_VAR_DIR=str(workdir),
        MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS="127.0.0.1",
        # The pool's images appear under many URLs: every download is analysed, as in the runs measured before
        # analyses were reused by content (bench/reuse.py measures that).
        MEDIA_ANALYSIS_REUSE_BY_CONTENT="0",
        DJANGO_SETTINGS_MODULE="medianalyse_site.settings",
    )
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))  # a scratch database, nothing signed
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from bench._images import build_image_set
    from lands.models import Domain, Expression, Land, Media
    from media_analysis.jobs import service
    from media_analysis.jobs.parameters import JobParameters
    from media_analysis.models import AnalysisJob

    call_command("migrate", verbosity=0)
    image_set = build_image_set(count=args.pool)
    pool = [data for images in image_set.values() for data in images]
    server, base_url = serve(pool, args.latency)

    land = Land.objects.create(name="refetch")
    domain = Domain.objects.create(name="images.example")
    page = Expression.objects.create(land=land, domain=domain, url="https://images.example/", depth=0, relevance=1)
    Media.objects.bulk_create(Media(expression=page, url=f"{base_url}/i/{n}") for n in range(args.media))

    def job(force: bool) -> tuple[float, float, AnalysisJob]:
        started, cpu_started = time.perf_counter(), time.process_time()
        created = service.create_job(land, JobParameters(force=force))
        for chunk_id in service.plan_job(created.pk, settings.MEDIA_ANALYSIS_CHUNK_SIZE):
            service.run_chunk(chunk_id)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        created.refresh_from_db()
        return seconds, cpu, created

    print(f"medianalyse re-analysis benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    mean_kib = statistics.mean(len(b) for b in pool) / 1024
    print(
        f"{args.media} media ({len(pool)} distinct images, mean {mean_kib:.0f} KiB), "
        f"{args.latency * 1000:.0f} ms latency, chunk size {settings.MEDIA_ANALYSIS_CHUNK_SIZE}, "
        f"download concurrency {settings.MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY}, "
        f"analysis threads {settings.MEDIA_ANALYSIS_ANALYSIS_THREADS}, cores {os.cpu_count()}"
    )
    print()
    print("| run | analysed | unchanged | failed | seconds | media/s | CPU seconds |")
    print("|---|---:|---:|---:|---:|---:|---:|")

    def row(label: str, seconds: float, cpu: float, done: AnalysisJob) -> None:
        print(
            f"| {label} | {done.analysed} | {done.unchanged} | {done.failed} | {seconds:.2f} "
            f"| {done.processed / seconds:.0f} | {cpu:.2f} |",
            flush=True,
        )

    try:
        first_seconds, first_cpu, first = job(force=False)
        row("first analysis", first_seconds, first_cpu, first)
        conditional: list[tuple[float, float]] = []
        full: list[tuple[float, float]] = []
        for attempt in range(args.repeat):
            seconds, cpu, done = job(force=True)
            conditional.append((seconds, cpu))
            row(f"force, conditional ({attempt + 1})", seconds, cpu, done)
        settings.MEDIA_ANALYSIS_CONDITIONAL_REQUESTS = False
        for attempt in range(args.repeat):
            seconds, cpu, done = job(force=True)
            full.append((seconds, cpu))
            row(f"force, unconditional ({attempt + 1})", seconds, cpu, done)
        print()
        for index, what in ((0, "wall"), (1, "CPU")):
            fast = statistics.median(run[index] for run in conditional)
            slow = statistics.median(run[index] for run in full)
            first_value = (first_seconds, first_cpu)[index]
            print(
                f"{what}: median forced unconditional / median forced conditional {slow / fast:.1f}x; "
                f"first analysis / median forced conditional {first_value / fast:.1f}x"
            )
    finally:
        server.terminate()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
