"""Analyses reused by content: a land where the same pictures appear under many URLs, with reuse and without.

Builds ``--pictures`` distinct images (the engine benchmark's mix, bench/_images.py),
each served under ``--copies`` URLs by a local HTTP server in its own process, and one
media per URL on a land. Then, in this process, ``--repeat`` times each, in turn:

* a job with reuse by content (the default): every picture analysed once, every
  other copy copies its values;
* the same job with ``MEDIA_ANALYSIS_REUSE_BY_CONTENT`` off: every download analysed.

Each run starts from a new land on an empty database (the previous land deleted),
and is a job through the service steps (create, plan, every chunk in turn). Prints
the job's counts (analysed, reused), wall seconds, media per second and this
process's CPU seconds, and the ratios of the medians.

    .venv/bin/python bench/reuse.py [--pictures 200] [--copies 10] [--repeat 3] [--latency 0]

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


def _serve_forever(pool: list[bytes], latency: float, port_pipe) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:
            pass

        def do_GET(self) -> None:
            body = pool[int(self.path.rsplit("/", 1)[1]) % len(pool)]
            if latency:
                time.sleep(latency)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
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
    parser.add_argument("--pictures", type=int, default=200)
    parser.add_argument("--copies", type=int, default=10, help="URLs serving each picture")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the server waits before each response")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="medianalyse-bench-reuse-"))
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    os.environ.update(
        MEDIANALYSE_VAR_DIR=str(workdir),
        MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS="127.0.0.1",
        DJANGO_SETTINGS_MODULE="medianalyse_site.settings",
    )
    os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))  # a scratch database, nothing signed
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from bench._images import GROUPS, build_image_set
    from lands.models import Domain, Expression, Land, Media
    from media_analysis.jobs import service
    from media_analysis.jobs.parameters import JobParameters
    from media_analysis.models import AnalysisJob

    call_command("migrate", verbosity=0)
    per_group = -(-args.pictures // len(GROUPS))
    image_set = build_image_set(count=per_group)
    pool = [data for images in image_set.values() for data in images][: args.pictures]
    server, base_url = serve(pool, args.latency)
    media_count = len(pool) * args.copies

    def job(reuse: bool, run: int) -> tuple[float, float, AnalysisJob]:
        Land.objects.all().delete()
        land = Land.objects.create(name=f"reuse-{run}-{reuse}")
        domain = Domain.objects.get_or_create(name="images.example")[0]
        page = Expression.objects.create(land=land, domain=domain, url="https://images.example/", depth=0, relevance=1)
        # URL n serves picture n % pictures: the copies of one picture are spread over the chunks.
        Media.objects.bulk_create(Media(expression=page, url=f"{base_url}/i/{n}") for n in range(media_count))
        settings.MEDIA_ANALYSIS_REUSE_BY_CONTENT = reuse
        started, cpu_started = time.perf_counter(), time.process_time()
        created = service.create_job(land, JobParameters())
        for chunk_id in service.plan_job(created.pk, settings.MEDIA_ANALYSIS_CHUNK_SIZE):
            service.run_chunk(chunk_id)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        created.refresh_from_db()
        return seconds, cpu, created

    print(f"medianalyse reuse-by-content benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    mean_kib = statistics.mean(len(b) for b in pool) / 1024
    print(
        f"{media_count} media: {len(pool)} distinct pictures (mean {mean_kib:.0f} KiB) under {args.copies} URLs each, "
        f"{args.latency * 1000:.0f} ms latency, chunk size {settings.MEDIA_ANALYSIS_CHUNK_SIZE}, "
        f"download concurrency {settings.MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY}, "
        f"analysis threads {settings.MEDIA_ANALYSIS_ANALYSIS_THREADS}, cores {os.cpu_count()}",
        flush=True,
    )
    print("| run | analysed | reused | failed | seconds | media/s | CPU seconds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    timings: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    try:
        for run in range(args.repeat):
            for reuse in (True, False):
                seconds, cpu, done = job(reuse, run)
                timings[reuse].append((seconds, cpu))
                label = "reuse" if reuse else "no reuse"
                print(
                    f"| {label} {run + 1} | {done.analysed} | {done.reused} | {done.failed} | {seconds:.2f} "
                    f"| {done.processed / seconds:.0f} | {cpu:.2f} |",
                    flush=True,
                )
    finally:
        server.terminate()
        shutil.rmtree(workdir, ignore_errors=True)
    with_reuse = [statistics.median(values) for values in zip(*timings[True], strict=True)]
    without = [statistics.median(values) for values in zip(*timings[False], strict=True)]
    print(
        f"medians: with reuse {with_reuse[0]:.2f} s ({with_reuse[1]:.2f} CPU s), without {without[0]:.2f} s "
        f"({without[1]:.2f} CPU s); without / with: {without[0] / with_reuse[0]:.2f} wall, "
        f"{without[1] / with_reuse[1]:.2f} CPU"
    )


if __name__ == "__main__":
    main()
