"""The download pipeline against slow sites: media per second by latency profile, requests per URL, memory.

Serves the engine benchmark's image mix (bench/_images.py) from several hosts
(127.0.0.1 to 127.0.0.N, an asyncio server each) with a latency profile, runs a
whole job with one consumer as ``scripts/serve`` starts it, and prints:

* media per second from trigger to completed job for the profiles ``flat50``
  (50 ms on every response), ``flat300`` (300 ms) and ``web`` (300 ms, but 10 %
  at 1.5 s, 4 % at 4 s and 1 % stalled: headers, then silence until the client
  gives up);
* requests the servers saw against distinct URLs, with every URL on two media;
* the consumer's peak resident memory.

    .venv/bin/python bench/pipeline.py [--media 400] [--hosts 8] [--profiles flat50,flat300,web]
        [--worker-type thread] [--workers 2] [--repeat 2]

Runs on the embedded default (SQLite + SqliteHuey) in a throwaway directory.
Settings come from the environment (e.g. MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY).
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
sys.path.insert(0, str(ROOT))

PROFILES = ("flat50", "flat300", "web")


def delay_for(profile: str, index: int) -> float | None:
    """Seconds before the response of media ``index``; None: headers, then silence."""
    if profile == "flat50":
        return 0.05
    if profile == "flat300":
        return 0.3
    bucket = (index * 7919) % 100  # spread the slow ones over the whole land, deterministically
    if bucket == 0:
        return None
    if bucket <= 4:
        return 4.0
    if bucket <= 14:
        return 1.5
    return 0.3


def _serve_forever(pool: list[bytes], hosts: int, profile_box, requests_box, port_pipe) -> None:
    import asyncio

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                with requests_box.get_lock():
                    requests_box.value += 1
                path = head.split(b" ", 2)[1]
                index = int(path.rsplit(b"/", 1)[-1].split(b".")[0])
                body = pool[index % len(pool)]
                header = (
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                )
                delay = delay_for(PROFILES[profile_box.value], index)
                if delay is None:
                    writer.write(header)
                    await writer.drain()
                    await reader.read()  # silence until the client hangs up
                    return
                await asyncio.sleep(delay)
                writer.write(header)
                writer.write(body)
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, ValueError, IndexError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        servers = [await asyncio.start_server(handle, f"127.0.0.{n + 1}", 0, backlog=512) for n in range(hosts)]
        port_pipe.send([(f"127.0.0.{n + 1}", s.sockets[0].getsockname()[1]) for n, s in enumerate(servers)])
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(main())


def peak_rss_kib(pid: int) -> int:
    total = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            total = int(line.split()[1])
    return total


def children_peak_kib(pid: int) -> int:
    """Peak RSS of the consumer and, with process workers, the largest of its worker processes."""
    peaks = [peak_rss_kib(pid)]
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for child_pid in child.read_text().split():
            try:
                peaks.append(peak_rss_kib(int(child_pid)))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return max(peaks)


def start_consumer(env: dict[str, str], logdir: Path, worker_type: str, workers: int) -> subprocess.Popen:
    log = open(logdir / f"consumer-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_huey", "-w", str(workers), "-k", worker_type, "-d", "0.05", "-m", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    time.sleep(2.0)  # imports before the clock starts
    return proc


def stop_consumer(proc: subprocess.Popen) -> int:
    peak = children_peak_kib(proc.pid)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    return peak


def make_land(name: str, bases: list[str], count: int, repeat: int):
    from lands.models import Domain, Expression, Land, Media

    land = Land.objects.create(name=name)
    domain = Domain.objects.get_or_create(name="bench.invalid")[0]
    pages = Expression.objects.bulk_create(
        Expression(land=land, domain=domain, url=f"https://bench.invalid/{name}/p{i}", depth=0) for i in range(repeat)
    )
    Media.objects.bulk_create(
        (
            Media(expression=pages[copy], url=f"{bases[i % len(bases)]}/img/{i}.bin")
            for i in range(count // repeat)
            for copy in range(repeat)
        ),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=int, default=400)
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--profiles", default=",".join(PROFILES))
    parser.add_argument("--worker-type", default="thread", choices=("thread", "process"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2, help="media per distinct URL (pages showing it)")
    parser.add_argument("--pool", type=int, default=25, help="distinct images per group of the mix")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="medianalyse-bench-pipeline-"))
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        MEDIANALYSE_VAR_DIR=str(workdir),
        HUEY_IMMEDIATE="0",
        HUEY_NAME="bench-pipeline",
        HUEY_SQLITE_PATH=str(workdir / "huey.sqlite3"),
        MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS="127.0.0.0/8",
        DJANGO_SETTINGS_MODULE="medianalyse_site.settings",
    )
    env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.update(env)
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from bench._images import build_image_set

    print(f"medianalyse pipeline benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    image_set = build_image_set(count=args.pool)
    pool = [data for images in image_set.values() for data in images]
    context = multiprocessing.get_context("fork")
    profile_box = context.Value("i", 0)
    requests_box = context.Value("q", 0)
    receiving, sending = context.Pipe(duplex=False)
    server = context.Process(
        target=_serve_forever, args=(pool, args.hosts, profile_box, requests_box, sending), daemon=True
    )
    server.start()
    bases = [f"http://{host}:{port}" for host, port in receiving.recv()]
    print(
        f"{len(pool)} distinct images, mean {statistics.mean(len(b) for b in pool) / 1024:.0f} KiB, "
        f"{args.hosts} hosts; {args.media} media, each URL on {args.repeat}; consumer: run_huey -w {args.workers} "
        f"-k {args.worker_type}; downloads in flight {settings.MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY}, "
        f"per host {settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY}, chunk {settings.MEDIA_ANALYSIS_CHUNK_SIZE}, "
        f"read timeout {settings.MEDIA_ANALYSIS_TIMEOUT:g} s, cores {os.cpu_count()}",
        flush=True,
    )
    rows = []
    for profile in args.profiles.split(","):
        profile_box.value = PROFILES.index(profile)
        with requests_box.get_lock():
            requests_box.value = 0
        land = make_land(f"bench-{profile}-{time.monotonic_ns()}", bases, args.media, args.repeat)
        proc = start_consumer(env, workdir, args.worker_type, args.workers)
        try:
            seconds, job = run_job(land)
        finally:
            peak = stop_consumer(proc)
        rows.append((profile, job.total, seconds, job.analysed, job.failed, requests_box.value, peak))
        print(f"  {profile}: {job.total / seconds:.1f} media/s", flush=True)
    server.terminate()
    print()
    print("| profile | media | distinct URLs | requests | seconds | media/s | analysed | failed | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for profile, total, seconds, analysed, failed, requests, peak in rows:
        print(
            f"| {profile} | {total} | {total // args.repeat} | {requests} | {seconds:.1f} | {total / seconds:.1f} "
            f"| {analysed} | {failed} | {peak / 1024:.0f} |"
        )


if __name__ == "__main__":
    main()
