"""End-to-end land analysis: medianalyse's Huey pipeline against the predecessor's sequential loop.

Builds a land of images (the engine benchmark's mix, bench/_images.py) served by a
local HTTP server that adds 50 ms of latency to every response, then measures, in
the same run and on the same files:

* media per second from trigger to completed job, with 1 and with 2 consumers
  (each ``manage.py run_huey`` with one worker thread; its download pipeline keeps
  up to MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY downloads in flight);
* the predecessor's sequential loop (``download_and_analyse_sequentially`` from
  ../shared/bench/upstream_reference.py) on a sample of the same URLs;
* database queries per chunk for chunks of 10 and 100 media (must not depend on size);
* a consumer's peak memory on a land of N and of 10 N media.

    .venv/bin/python bench/land.py [--media 2000] [--big 20000] [--upstream-sample 300] [--workers 1]

Runs on the embedded default (SQLite + SqliteHuey) in a throwaway directory.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from media_analysis.models import AnalysisJob

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = ROOT.parent / "shared" / "bench"
sys.path.insert(0, str(ROOT))


def _serve_forever(pool: list[bytes], latency: float, port_pipe) -> None:
    """An asyncio HTTP/1.1 server (keep-alive, GET only): each response is written
    ``latency`` seconds after its request arrives, from bytes prepared in advance,
    so that serving costs the shared cores as little as possible."""
    import asyncio

    responses = [
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode(),
            body,
        )
        for body in pool
    ]
    not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(latency)
                path = head.split(b" ", 2)[1]
                try:
                    header, body = responses[int(path.rsplit(b"/", 1)[-1].split(b".")[0]) % len(responses)]
                except ValueError:
                    writer.write(not_found)
                else:
                    writer.write(header)
                    writer.write(body)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
        port_pipe.send(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def serve(pool: list[bytes], latency: float) -> tuple[multiprocessing.context.ForkProcess, str]:
    """Serve ``pool`` from a separate process (forked: the images are not copied)."""
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    process = context.Process(target=_serve_forever, args=(pool, latency, sending), daemon=True)
    process.start()
    return process, f"http://127.0.0.1:{receiving.recv()}"


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def start_consumers(count: int, env: dict[str, str], logdir: Path, workers: int = 1) -> list[subprocess.Popen]:
    procs = []
    for index in range(count):
        log = open(logdir / f"consumer-{len(list(logdir.iterdir()))}-{index}.log", "wb")  # noqa: SIM115
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "run_huey",
                    "-w",
                    str(workers),
                    "-k",
                    "thread",
                    "-d",
                    "0.05",
                    "-m",
                    "0.2",
                    "-n",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    time.sleep(2.0)  # let them import Django and the imaging stack before the clock starts
    return procs


def stop_consumers(procs: list[subprocess.Popen]) -> list[int]:
    peaks = [peak_rss_kib(p.pid) for p in procs]
    for proc in procs:
        os.killpg(proc.pid, signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return peaks


def make_land(name: str, base_url: str, count: int):
    from lands.models import Domain, Expression, Land, Media

    land = Land.objects.create(name=name)
    domains = [Domain.objects.get_or_create(name=f"site{i}.bench.invalid")[0] for i in range(20)]
    pages = Expression.objects.bulk_create(
        Expression(land=land, domain=domains[i % 20], url=f"https://site{i % 20}.bench.invalid/p{i}", depth=0)
        for i in range(max(1, count // 10))
    )
    Media.objects.bulk_create(
        (Media(expression=pages[i % len(pages)], url=f"{base_url}/img/{i}.bin") for i in range(count)),
        batch_size=2000,
    )
    return land


def run_job(land) -> tuple[float, AnalysisJob]:
    from media_analysis import tasks
    from media_analysis.jobs.parameters import JobParameters
    from media_analysis.models import AnalysisJob, JobStatus

    started = time.perf_counter()
    job = tasks.start_job(land, JobParameters())
    while True:
        job = AnalysisJob.objects.get(pk=job.pk)
        if job.status not in (JobStatus.PENDING, JobStatus.RUNNING):
            return time.perf_counter() - started, job
        time.sleep(0.05)


def queries_per_chunk(base_url: str) -> dict[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from media_analysis.jobs import service as jobs
    from media_analysis.jobs.parameters import JobParameters

    counts = {}
    for size in (10, 100):
        land = make_land(f"queries-{size}", base_url, size)
        job = jobs.create_job(land, JobParameters())
        (chunk_id,) = jobs.plan_job(job.pk, chunk_size=size)
        with CaptureQueriesContext(connection) as captured:
            jobs.run_chunk(chunk_id)
        counts[size] = len(captured.captured_queries)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=int, default=2000)
    parser.add_argument("--big", type=int, default=20000, help="land size for the memory comparison (0 to skip)")
    parser.add_argument("--upstream-sample", type=int, default=300)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=1, help="worker threads per consumer (run_huey -w)")
    parser.add_argument("--pool", type=int, default=25, help="distinct images per group of the mix")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="medianalyse-bench-land-"))
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        MEDIANALYSE_VAR_DIR=str(workdir),
        HUEY_IMMEDIATE="0",
        HUEY_NAME="bench-land",
        HUEY_SQLITE_PATH=str(workdir / "huey.sqlite3"),
        MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS="127.0.0.1",
        DJANGO_SETTINGS_MODULE="medianalyse_site.settings",
    )
    env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))  # a scratch database, nothing signed
    os.environ.update(env)
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from bench._images import build_image_set

    print(f"medianalyse land benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    print(f"building the image pool ({args.pool} per group)...", flush=True)
    image_set = build_image_set(count=args.pool)
    pool = [data for images in image_set.values() for data in images]
    server, base_url = serve(pool, args.latency)
    mean_kib = statistics.mean(len(b) for b in pool) / 1024
    print(f"{len(pool)} distinct images, mean {mean_kib:.0f} KiB, served with {args.latency * 1000:.0f} ms latency")
    print(
        f"chunk size {settings.MEDIA_ANALYSIS_CHUNK_SIZE}, download concurrency "
        f"{settings.MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY}, cores {os.cpu_count()}"
    )

    rows = []
    peaks: dict[int, int] = {}
    for consumers in (1, 2):
        land = make_land(f"bench-{consumers}", base_url, args.media)
        procs = start_consumers(consumers, env, workdir, args.workers)
        try:
            seconds, job = run_job(land)
        finally:
            peak = stop_consumers(procs)
        if consumers == 1:
            peaks[args.media] = max(peak)
        rows.append((f"medianalyse, {consumers} consumer(s)", job.total, seconds, job.analysed, job.failed))

    sys.path.insert(0, str(SHARED_BENCH))
    from upstream_reference import download_and_analyse_sequentially

    sample = [f"{base_url}/img/{i}.bin" for i in range(args.upstream_sample)]
    started = time.perf_counter()
    results = download_and_analyse_sequentially(sample)
    seconds = time.perf_counter() - started
    failures = sum(1 for r in results if r.get("error"))
    rows.append(("predecessor, sequential", len(sample), seconds, len(sample) - failures, failures))

    if args.big:
        land = make_land("bench-big", base_url, args.big)
        procs = start_consumers(1, env, workdir, args.workers)
        try:
            big_seconds, big_job = run_job(land)
        finally:
            peaks[args.big] = max(stop_consumers(procs))
        rows.append(
            ("medianalyse, 1 consumer (memory run)", big_job.total, big_seconds, big_job.analysed, big_job.failed)
        )

    query_counts = queries_per_chunk(base_url)
    server.terminate()

    upstream_rate = rows[2][1] / rows[2][2]
    print()
    print("| run | media | seconds | media/s | x predecessor | analysed | failed |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, total, seconds, analysed, failed in rows:
        rate = total / seconds
        print(f"| {name} | {total} | {seconds:.1f} | {rate:.1f} | {rate / upstream_rate:.1f} | {analysed} | {failed} |")
    print()
    print("| queries for one chunk of 10 media | of 100 media |")
    print("|---:|---:|")
    print(f"| {query_counts[10]} | {query_counts[100]} |")
    print()
    print("| consumer peak RSS | " + " | ".join(f"{n} media" for n in sorted(peaks)) + " |")
    print("|---|" + "---:|" * len(peaks))
    print("| MiB | " + " | ".join(f"{peaks[n] / 1024:.0f}" for n in sorted(peaks)) + " |")


if __name__ == "__main__":
    main()
