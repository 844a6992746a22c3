"""End-to-end land analysis, trigger to completed job: a "real web" profile, and the classic flat comparison.

Both build lands of images from the engine benchmark's mix (bench/_images.py) and run
real Huey consumers against local HTTP servers, SQLite being the database, in a
throwaway directory.

**Web profile** (the default). 40 hosts (127.0.0.2 to 127.0.0.41), distinct bytes for every
URL, latencies drawn once per URL and kept (median 300 ms, 10 % at 1.5 s, 4 % at 4 s, 1 %
stalled), validators on 90 % of URLs; the server counts requests in progress and open
connections per host, requests per URL, conditional requests and 304s (bench/_web.py says
exactly how). Phases, each on a land of its own URLs, with one consumer and then with two
(``--consumers``):

* ``flat``: the web land's images, hosts and validators, every response after 50 ms;
* ``web``: the drawn latencies;
* ``force``: re-analysis of the web land with ``force``: conditional requests, 304s, speed
  against the first analysis;
* ``dup``: a land where 30 % of media rows repeat a URL of the land on another page:
  requests per distinct URL;
* ``memory`` (one consumer): a land of ``--big`` media on the web profile, the consumer's
  peak memory against the web phase's.

One consumer is started the way scripts/serve starts it (``--consumer-command``, or the
environment's BENCH_CONSUMER_COMMAND; run from the project's root, ``manage.py`` with this
Python). The two-consumer part runs with REDIS_URL pointing at a throwaway redis-server
(queue, and any limit the consumers share, in Redis), SQLite staying the database. The
download pipeline's settings come from the environment as they are, and are printed.

    .venv/bin/python bench/land.py [--media 2000] [--big 20000] [--phases flat,web,force,dup,memory]
                                   [--consumers 1,2] [--hosts 40] [--job-timeout 900] [--trace DIR]

With ``--trace DIR`` the consumers of each phase trace their pipelines (MEDIA_ANALYSIS_PIPELINE_TRACE) in
``DIR/<phase>-<consumers>``, and bench/pipeline_trace.py's summary of each job is printed after it.

**Classic** (``--classic``). One server on 127.0.0.1 adds 50 ms to every response and serves a
pool of 200 images modulo the URL, each URL's bytes made distinct by a metadata segment naming
it (as in the web profile: same pixels, different SHA-256); measures, in the same run and on the
same files:

* media per second from trigger to completed job, with 1 and with 2 consumers
  (each ``manage.py run_huey`` with one worker thread; its download pipeline keeps
  up to MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY downloads in flight);
* the predecessor's sequential loop (``download_and_analyse_sequentially`` from
  ../shared/bench/upstream_reference.py) on a sample of the same URLs;
* database queries per chunk for chunks of 10 and 100 media (must not depend on size);
* a consumer's peak memory on a land of N and of 10 N media.

    .venv/bin/python bench/land.py --classic [--media 2000] [--big 20000] [--upstream-sample 300] [--workers 1]

**OCR mix** (``--classic --ocr-mix``). The same server serves the OCR benchmark's land-like
mix (bench/ocr.py's ``encoded_mix``: seven pictures in ten photos without text, the rest
captions over photos, captions on plain grounds and screenshots), each URL's bytes distinct;
lands of ``--media`` media are analysed by one consumer with ``ocr`` off and on, alternately,
``--ocr-rounds`` times, each land on URLs of its own. Prints media per second (trigger to
completed job) and the consumer's CPU seconds per media (its processes' user and system time
over the job), each with and without OCR, their medians, and the ratios; and, per land, the share of a core
the consumer used and how many of its threads wanted one on average (CPU time plus the time its threads
were runnable without a core, from the scheduler's statistics, over the wall time): on a loaded machine,
what tells a consumer starved of CPU from one that waits on itself.

    .venv/bin/python bench/land.py --classic --ocr-mix [--media 150] [--ocr-rounds 2] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lands.models import Land
    from media_analysis.jobs.parameters import JobParameters
    from media_analysis.models import AnalysisJob

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = ROOT.parent / "shared" / "bench"
sys.path.insert(0, str(ROOT))

from bench import _web  # noqa: E402 (the project's root must be importable first)

# The command scripts/serve starts a consumer with (without its environment's overrides).
SERVE_CONSUMER = "manage.py run_huey --workers 2 --worker-type thread"
# Settings the download pipeline reads; passed through from the environment and printed.
PIPELINE_SETTINGS = (
    "MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY",
    "MEDIA_ANALYSIS_REVALIDATION_CONCURRENCY",
    "MEDIA_ANALYSIS_BYTES_IN_FLIGHT",
    "MEDIA_ANALYSIS_PER_HOST_CONCURRENCY",
    "MEDIA_ANALYSIS_PER_HOST_DELAY",
    "MEDIA_ANALYSIS_DOWNLOAD_DEADLINE",
    "MEDIA_ANALYSIS_TIMEOUT",
    "MEDIA_ANALYSIS_BODY_START_TIMEOUT",
    "MEDIA_ANALYSIS_MAX_RETRIES",
    "MEDIA_ANALYSIS_CHUNK_SIZE",
    "MEDIA_ANALYSIS_ANALYSIS_THREADS",
    "MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS",
)
PHASES = ("flat", "web", "force", "dup", "memory")
WEB_OVER_FLAT_GOAL = 0.8
FORCE_SPEED_GOAL = 5.0
MEMORY_GROWTH_ALLOWED = 1.10  # "does not grow": the big land's peak within 10 % of the small one's
IN_FLIGHT_FOR_MEMORY = 100  # "with hundreds of downloads in flight"


# --- Shared by both modes: the Django environment, consumers, lands, jobs, memory ---


def django_environment(workdir: Path, redis_url: str | None, allow_private: str) -> dict[str, str]:
    """Point this process (and the consumers it starts) at a scratch database and queue, then set Django up."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        MEDIANALYSE_VAR_DIR=str(workdir),
        HUEY_IMMEDIATE="0",
        HUEY_NAME=f"bench-land-{workdir.name}",
        HUEY_SQLITE_PATH=str(workdir / "huey.sqlite3"),
        MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS=allow_private,
        DJANGO_SETTINGS_MODULE="medianalyse_site.settings",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))  # a scratch database, nothing signed
    os.environ.update(env)
    for name in ("DATABASE_URL", "REDIS_URL"):
        if name not in env:
            os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # The compiled k-means goes into a cache under ``workdir`` that the consumers share: compiled here, once, so
    # that the first consumer started does not carry the compiler's time and memory and the later ones not, and
    # two phases' peaks and rates compare alike.
    from media_analysis.engine.image.colours import warm_up

    warm_up()
    return env


def peak_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a consumer with process workers is several processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        parent = int(text.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree, stack = [], [pid]
    while stack:
        current = stack.pop()
        tree.append(current)
        stack.extend(children.get(current, []))
    return tree


def consumer_command(spec: str) -> list[str]:
    command = shlex.split(spec)
    if command and command[0].endswith(".py"):  # manage.py, or a script such as bench/_constant_consumer.py
        command.insert(0, sys.executable)
    return command


# What a Huey consumer logs once it has imported Django and the tasks and started its workers.
CONSUMER_STARTED = b"Huey consumer started"
# How long a consumer may take to start on a loaded machine before the job is triggered anyway.
CONSUMER_START_LIMIT = 300.0


def start_consumers(count: int, env: dict[str, str], logdir: Path, command: list[str]) -> list[subprocess.Popen]:
    procs = []
    logs = []
    for index in range(count):
        path = logdir / f"consumer-{len(list(logdir.iterdir()))}-{index}.log"
        logs.append(path)
        log = open(path, "wb")  # noqa: SIM115
        procs.append(
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        )
    # The clock includes no start-up: on a loaded machine importing Django takes far longer than on a quiet one.
    deadline = time.monotonic() + CONSUMER_START_LIMIT
    while time.monotonic() < deadline and not all(CONSUMER_STARTED in path.read_bytes() for path in logs):
        if any(proc.poll() is not None for proc in procs):
            break
        time.sleep(0.1)
    time.sleep(2.0)  # and let their start-up hook run (it loads numpy) before the clock starts
    return procs


def stop_consumers(procs: list[subprocess.Popen]) -> list[list[int]]:
    """Stop the consumers; each one's processes' peak resident sizes (KiB), read just before."""
    peaks = [[peak_rss_kib(pid) for pid in process_tree(p.pid)] for p in procs]
    for proc in procs:
        os.killpg(proc.pid, signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return peaks


class PeakWatch:
    """The largest peak resident size (KiB) among these consumers' processes, read at each ``read``."""

    def __init__(self, procs: list[subprocess.Popen]) -> None:
        self.procs = procs
        self.peak = 0
        self._pids: list[int] = []
        self._listed = 0.0

    def read(self) -> None:
        if time.monotonic() - self._listed > 5.0:  # walking /proc at every read would load the machine
            self._pids = [pid for proc in self.procs for pid in process_tree(proc.pid)]
            self._listed = time.monotonic()
        self.peak = max([self.peak, *(peak_rss_kib(pid) for pid in self._pids)])


def make_land(name: str, urls: Sequence[str], pages: Sequence[int] | None = None) -> Land:
    """A land whose media rows have ``urls``, row i on page ``pages[i]`` (by default i modulo a tenth of the rows)."""
    from lands.models import Domain, Expression, Land, Media

    if pages is None:
        page_count = max(1, len(urls) // 10)
        pages = [i % page_count for i in range(len(urls))]
    land = Land.objects.create(name=name)
    domains = [Domain.objects.get_or_create(name=f"site{i}.bench.invalid")[0] for i in range(20)]
    expressions = Expression.objects.bulk_create(
        Expression(land=land, domain=domains[i % 20], url=f"https://site{i % 20}.bench.invalid/{name}/p{i}", depth=0)
        for i in range(max(pages) + 1)
    )
    Media.objects.bulk_create(
        (Media(expression=expressions[page], url=url) for url, page in zip(urls, pages, strict=True)),
        batch_size=2000,
    )
    return land


def run_job(
    land: Land,
    params: JobParameters | None = None,
    timeout: float | None = None,
    on_poll: Callable[[], None] | None = None,
) -> tuple[float, AnalysisJob, bool]:
    """Trigger a job and wait for its end: (seconds, job, finished). Past ``timeout`` the job is cancelled.

    ``on_poll`` is called at every look at the job's status while it runs (every 50 ms).
    """
    from media_analysis import tasks
    from media_analysis.jobs import service as jobs
    from media_analysis.jobs.parameters import JobParameters
    from media_analysis.models import AnalysisJob, JobStatus

    started = time.perf_counter()
    job = tasks.start_job(land, params or JobParameters())
    while True:
        job = AnalysisJob.objects.get(pk=job.pk)
        if job.status not in (JobStatus.PENDING, JobStatus.RUNNING):
            return time.perf_counter() - started, job, True
        if on_poll is not None:
            on_poll()
        if timeout is not None and time.perf_counter() - started > timeout:
            seconds = time.perf_counter() - started
            return seconds, jobs.cancel_job(job), False
        time.sleep(0.05)


# --- Classic: one host, 50 ms, a pool of 200 images modulo the URL ---


def _serve_forever(pool: list[bytes], latency: float, port_pipe) -> None:
    """An asyncio HTTP/1.1 server (keep-alive, GET only): each response is written
    ``latency`` seconds after its request arrives. URL ``i`` serves pool image
    ``i % len(pool)`` with a small segment naming ``i`` spliced in (``_web.tag``), so
    that no two URLs share bytes; the pool's bytes are never copied."""
    import asyncio

    not_found = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"

    def response(index: int) -> tuple[bytes | memoryview, ...]:
        body = pool[index % len(pool)]
        head, offset, tail = _web.tag(body, _web.url_text(index))
        length = len(head) + len(body) - offset + len(tail)
        status = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            + f"Content-Length: {length}\r\n\r\n".encode()
        )
        return status, head, memoryview(body)[offset:], tail

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(latency)
                path = head.split(b" ", 2)[1]
                try:
                    parts = response(int(path.rsplit(b"/", 1)[-1].split(b".")[0]))
                except ValueError:
                    writer.write(not_found)
                else:
                    writer.writelines(parts)
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


# Where each classic land's URLs start: every land has URLs (and so bytes) of its own, or a later land
# would copy the values stored for the same bytes instead of analysing them.
CLASSIC_LAND_OFFSET = 1_000_000


def classic_urls(base_url: str, count: int, land: int = 0) -> list[str]:
    first = land * CLASSIC_LAND_OFFSET
    return [f"{base_url}/img/{i}.bin" for i in range(first, first + count)]


def queries_per_chunk(base_url: str) -> dict[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from media_analysis.jobs import service as jobs
    from media_analysis.jobs.parameters import JobParameters

    counts = {}
    for size in (10, 100):
        land = make_land(f"queries-{size}", classic_urls(base_url, size, land=10 + size))
        job = jobs.create_job(land, JobParameters())
        (chunk_id,) = jobs.plan_job(job.pk, chunk_size=size)
        with CaptureQueriesContext(connection) as captured:
            jobs.run_chunk(chunk_id)
        counts[size] = len(captured.captured_queries)
    return counts


def classic_main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="medianalyse-bench-land-"))
    env = django_environment(workdir, None, "127.0.0.1")
    from django.conf import settings

    from bench._images import build_image_set

    command = [sys.executable, "manage.py", "run_huey", "-w", str(args.workers), "-k", "thread"]
    command += ["-d", "0.05", "-m", "0.2", "-n"]
    print(f"medianalyse land benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    print(f"building the image pool ({args.pool} per group)...", flush=True)
    image_set = build_image_set(count=args.pool)
    pool = [data for images in image_set.values() for data in images]
    server, base_url = serve(pool, args.latency)
    mean_kib = statistics.mean(len(b) for b in pool) / 1024
    print(
        f"{len(pool)} pool images, mean {mean_kib:.0f} KiB, distinct bytes for every URL, "
        f"served with {args.latency * 1000:.0f} ms latency"
    )
    print(
        f"chunk size {settings.MEDIA_ANALYSIS_CHUNK_SIZE}, download concurrency "
        f"{settings.MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY}, cores {os.cpu_count()}"
    )

    rows = []
    peaks: dict[int, int] = {}
    for consumers in (1, 2):
        land = make_land(f"bench-{consumers}", classic_urls(base_url, args.media, land=consumers))
        procs = start_consumers(consumers, env, workdir, command)
        try:
            seconds, job, _finished = run_job(land)
        finally:
            peak = stop_consumers(procs)
        if consumers == 1:
            peaks[args.media] = max(max(p) for p in peak)
        rows.append((f"medianalyse, {consumers} consumer(s)", job.total, seconds, job.analysed, job.failed))

    sys.path.insert(0, str(SHARED_BENCH))
    from upstream_reference import download_and_analyse_sequentially

    sample = classic_urls(base_url, args.upstream_sample, land=1)
    started = time.perf_counter()
    results = download_and_analyse_sequentially(sample)
    seconds = time.perf_counter() - started
    failures = sum(1 for r in results if r.get("error"))
    rows.append(("predecessor, sequential", len(sample), seconds, len(sample) - failures, failures))

    if args.big:
        land = make_land("bench-big", classic_urls(base_url, args.big, land=3))
        procs = start_consumers(1, env, workdir, command)
        try:
            big_seconds, big_job, _finished = run_job(land)
        finally:
            peaks[args.big] = max(max(p) for p in stop_consumers(procs))
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


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of ``pid`` and its descendants so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def run_queue_seconds(pid: int) -> float:
    """Seconds the threads of ``pid`` and its descendants spent runnable but waiting for a core, so far.

    From each thread's ``/proc/.../schedstat`` (the scheduler's statistics): with the CPU seconds over the same
    span, how many threads wanted a core on average, whether or not the load let them have one.
    """
    total = 0
    for member in process_tree(pid):
        for task in Path(f"/proc/{member}/task").glob("*/schedstat"):
            try:
                total += int(task.read_text().split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return total / 1e9


def ocr_mix_main(args: argparse.Namespace) -> None:
    """A land of the OCR mix analysed with and without OCR, alternately, by one consumer."""
    workdir = Path(tempfile.mkdtemp(prefix="medianalyse-bench-land-ocr-"))
    env = django_environment(workdir, None, "127.0.0.1")
    from bench.ocr import MIX_TEXT_SHARE, encoded_mix
    from media_analysis.jobs.parameters import JobParameters, ocr_unavailable

    reason = ocr_unavailable()
    if reason:
        sys.exit(f"OCR unavailable: {reason}")
    command = [sys.executable, "manage.py", "run_huey", "-w", str(args.workers), "-k", "thread"]
    command += ["-d", "0.05", "-m", "0.2", "-n"]
    print(f"medianalyse land benchmark, OCR mix, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    pool = encoded_mix(args.ocr_pool)
    server, base_url = serve(pool, args.latency)
    print(
        f"{len(pool)} pool images ({100 * MIX_TEXT_SHARE:.0f} % drawn with text), mean "
        f"{statistics.mean(len(b) for b in pool) / 1024:.0f} KiB, distinct bytes for every URL, "
        f"{args.latency * 1000:.0f} ms latency; {args.media} media a land, 1 consumer with {args.workers} "
        f"worker thread(s), cores {os.cpu_count()}; load average before: {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    land_number = 100
    for round_number in range(args.ocr_rounds):
        order = (False, True) if round_number % 2 == 0 else (True, False)
        for ocr in order:
            land_number += 1
            land = make_land(f"ocr-{land_number}", classic_urls(base_url, args.media, land=land_number))
            procs = start_consumers(1, env, workdir, command)
            try:
                cpu_before, waited_before = cpu_seconds(procs[0].pid), run_queue_seconds(procs[0].pid)
                seconds, job, _finished = run_job(land, JobParameters(ocr=ocr), timeout=args.job_timeout)
                cpu = cpu_seconds(procs[0].pid) - cpu_before
                waited = run_queue_seconds(procs[0].pid) - waited_before
            finally:
                stop_consumers(procs)
            runs[ocr].append((job.total / seconds, cpu / max(1, job.total)))
            print(
                f"  {'with' if ocr else 'without'} OCR: {job.total} media in {seconds:.1f} s "
                f"({job.total / seconds:.1f}/s), consumer CPU {cpu:.1f} s ({1000 * cpu / max(1, job.total):.0f} ms "
                f"a media), analysed {job.analysed}, failed {job.failed}; load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
            print(
                f"    consumer: {cpu / seconds:.2f} of a core used, {waited:.1f} s of its threads' time runnable "
                f"without a core: {(cpu + waited) / seconds:.2f} threads wanted a core on average",
                flush=True,
            )
    server.terminate()
    rate = {ocr: statistics.median(r for r, _ in rows) for ocr, rows in runs.items()}
    cpu_each = {ocr: statistics.median(c for _, c in rows) for ocr, rows in runs.items()}
    print()
    print("| | media/s (wall) | consumer CPU ms a media |")
    print("|---|---:|---:|")
    print(f"| without OCR | {rate[False]:.1f} | {1000 * cpu_each[False]:.0f} |")
    print(f"| with OCR | {rate[True]:.1f} | {1000 * cpu_each[True]:.0f} |")
    print(
        f"| ratio with/without | {rate[True] / rate[False]:.2f} | "
        f"{cpu_each[False] / cpu_each[True]:.2f} (CPU speed: without's CPU over with's) |"
    )


# --- Web profile: what the run's URLs are (computed alike by the parent and each part) ---


@dataclass
class LandPlan:
    ids: list[int]  # the catalogue entry of each media row
    pages: list[int] | None = None  # the page of each row (None: the default spread)

    @property
    def distinct(self) -> list[int]:
        return list(dict.fromkeys(self.ids))


@dataclass
class WebPlan:
    catalogue: _web.Catalogue
    formats: list[str]  # the pool's formats, in pool order
    lands: dict[str, LandPlan] = field(default_factory=dict)  # "{phase}-{consumers}"


def mix_groups(names: str) -> tuple[Any, ...]:
    """The groups of the mix named (comma-separated; empty for all), in the mix's order."""
    from bench._images import GROUPS

    wanted = set(_split(names))
    unknown = wanted - {group.name for group in GROUPS}
    if unknown:
        sys.exit(f"no such group of the mix: {', '.join(sorted(unknown))} (groups: {[g.name for g in GROUPS]})")
    return tuple(group for group in GROUPS if not wanted or group.name in wanted)


def pool_formats(per_group: int, groups: str = "") -> list[str]:
    return [group.format for group in mix_groups(groups) for _ in range(per_group)]


def web_plan(args: argparse.Namespace) -> WebPlan:
    rng = random.Random(f"bench-land-web-{args.seed}")
    plan = WebPlan(_web.Catalogue(), pool_formats(args.pool, getattr(args, "groups", "")))
    add = plan.catalogue.add
    for consumers in args.consumers:
        web = add(args.media, plan.formats, args.hosts, rng)
        plan.lands[f"web-{consumers}"] = LandPlan(web)
        plan.lands[f"flat-{consumers}"] = LandPlan(plan.catalogue.add_flat(web))
        plan.lands[f"dup-{consumers}"] = duplicated_land(
            add(args.media - round(args.media * args.dup_share), plan.formats, args.hosts, rng), args.media, rng
        )
    if "memory" in args.phases and 1 in args.consumers and args.big:
        plan.lands["memory-1"] = LandPlan(add(args.big, plan.formats, args.hosts, rng))
    return plan


def duplicated_land(distinct: list[int], rows: int, rng: random.Random) -> LandPlan:
    """``rows`` media rows: each of ``distinct`` once, the rest repeating one of them on another page, shuffled."""
    page_count = max(2, rows // 10)
    placed = [(entry, i % page_count) for i, entry in enumerate(distinct)]
    pages_of: dict[int, set[int]] = {entry: {page} for entry, page in placed}
    while len(placed) < rows:
        entry = rng.choice(distinct)
        free = [page for page in range(page_count) if page not in pages_of[entry]]
        if not free:
            continue
        page = rng.choice(free)
        pages_of[entry].add(page)
        placed.append((entry, page))
    rng.shuffle(placed)
    return LandPlan([entry for entry, _ in placed], [page for _, page in placed])


# --- Web profile: one part (a consumer count), in its own process ---


def pipeline_settings() -> dict[str, str]:
    from django.conf import settings

    values = {}
    for name in PIPELINE_SETTINGS:
        value = getattr(settings, name, None)
        if value is not None:
            values[name] = repr(value)
        elif name in os.environ:
            values[name] = f"(not a setting of this code; {os.environ[name]!r} in the environment)"
        else:
            values[name] = "(not a setting of this code)"
    return values


def _weighted_quantile(seconds_at: dict[str, float], share: float) -> int | None:
    """The number of requests in progress that the server spent ``share`` of the job's time at or below."""
    levels = sorted((int(level), seconds) for level, seconds in seconds_at.items())
    total = sum(seconds for _, seconds in levels)
    if total <= 0:
        return None
    running = 0.0
    for level, seconds in levels:
        running += seconds
        if running >= share * total:
            return level
    return levels[-1][0]


def phase_result(
    plan: WebPlan,
    land: LandPlan,
    seconds: float,
    job: AnalysisJob,
    finished: bool,
    stats: dict[str, Any],
    rss: list[list[int]],
) -> dict[str, Any]:
    entries = plan.catalogue.entries
    requests = {int(k): v for k, v in stats["requests"].items()}
    distinct = land.distinct
    answered = [i for i in distinct if not entries[i].stalled]
    stalled = [i for i in distinct if entries[i].stalled]
    return {
        # A job cancelled at the time limit is judged on what it got through.
        "media": job.total if finished else job.analysed + job.failed + job.skipped,
        "seconds": seconds,
        "finished": finished,
        "analysed": job.analysed,
        "failed": job.failed,
        "skipped": job.skipped,
        "distinct_urls": len(distinct),
        "answered_urls": len(answered),
        "validator_urls": sum(1 for i in answered if entries[i].validators),
        "requests": sum(requests.values()),
        "requests_to_answered": sum(requests.get(i, 0) for i in answered),
        "answered_requested": sum(1 for i in answered if requests.get(i, 0)),
        "max_per_answered_url": max((requests.get(i, 0) for i in answered), default=0),
        "stalled_urls": len(stalled),
        "requests_to_stalled": sum(requests.get(i, 0) for i in stalled),
        "peak_host_in_progress": max(stats["peak_in_progress"]),
        "peak_host_open": max(stats["peak_open"]),
        "peak_in_progress": stats["peak_total_in_progress"],
        "median_in_progress": _weighted_quantile(stats.get("in_progress_seconds", {}), 0.5),
        "p90_in_progress": _weighted_quantile(stats.get("in_progress_seconds", {}), 0.9),
        "conditional": stats["conditional"],
        "not_modified": stats["not_modified"],
        "ok": stats["ok"],
        "stalls": stats["stalls"],
        "connections": stats.get("connections"),
        "rss_kib": rss,
        "load": os.getloadavg()[0],
    }


def web_part(args: argparse.Namespace) -> None:
    consumers = args.part
    workdir = Path(tempfile.mkdtemp(prefix=f"medianalyse-bench-web-{consumers}-"))
    # All of 127.0.0.0/8 is this machine's loopback: the benchmark's hosts are allowed, nothing else is.
    allowed = ",".join(
        dict.fromkeys(["127.0.0.0/8", *_split(os.environ.get("MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS", ""))])
    )
    env = django_environment(workdir, args.redis_url, allowed)
    from media_analysis.jobs.parameters import JobParameters

    plan = web_plan(args)
    stats = _web.StatsClient(args.control_port)
    command = consumer_command(args.consumer_command)
    result: dict[str, Any] = {"consumers": consumers, "settings": pipeline_settings(), "command": command, "phases": {}}
    lands: dict[str, Land] = {}

    def urls(land: LandPlan) -> list[str]:
        return [plan.catalogue.url(i, args.port, plan.formats) for i in land.ids]

    for phase in args.phases:
        key = f"{'web' if phase == 'force' else phase}-{consumers}"
        if key not in plan.lands or (phase == "force" and key not in lands):
            continue
        land_plan = plan.lands[key]
        if phase != "force":
            lands[key] = make_land(f"bench-{phase}-{consumers}", urls(land_plan), land_plan.pages)
        print(f"  {consumers} consumer(s), {phase}: {len(land_plan.ids)} media...", flush=True)
        stats.reset()
        phase_env = dict(env)
        trace_dir = Path(args.trace) / f"{phase}-{consumers}" if args.trace else None
        if trace_dir is not None:
            phase_env["MEDIA_ANALYSIS_PIPELINE_TRACE"] = str(trace_dir)
        procs = start_consumers(consumers, phase_env, workdir, command)
        # Peak resident size of the largest consumer process while its job runs, so before the near-duplicate
        # clustering that the job's end enqueues (its memory grows with the land, not with the downloads).
        job_peak = PeakWatch(procs)

        try:
            cpu_before = sum(cpu_seconds(proc.pid) for proc in procs)
            triggered = time.time()
            seconds, job, finished = run_job(
                lands[key], JobParameters(force=phase == "force"), args.job_timeout, on_poll=job_peak.read
            )
            job_end = time.time()
            cpu = sum(cpu_seconds(proc.pid) for proc in procs) - cpu_before
            counted = stats.stats()
            timings = stats.timings() if trace_dir is not None else {}
        finally:
            rss = stop_consumers(procs)
        result["phases"][phase] = phase_result(plan, land_plan, seconds, job, finished, counted, rss)
        result["phases"][phase]["job_peak_kib"] = job_peak.peak
        result["phases"][phase]["consumer_cpu_s"] = cpu
        done = result["phases"][phase]["media"]
        print(f"    {done / seconds:.1f} media/s, {job.analysed} analysed, {job.failed} failed", flush=True)
        if trace_dir is not None:
            from bench import pipeline_trace

            trace_dir.mkdir(parents=True, exist_ok=True)
            (trace_dir / "job.json").write_text(json.dumps({"triggered": triggered, "finished": job_end}))
            entries = plan.catalogue.entries
            server = {
                plan.catalogue.url(i, args.port, plan.formats): [*timings[i], entries[i].latency]
                for i in land_plan.distinct
                if i in timings
            }
            (trace_dir / "server.json").write_text(json.dumps(server))
            limit = int(result["settings"].get("MEDIA_ANALYSIS_PER_HOST_CONCURRENCY", "4"))
            report = pipeline_trace.report(pipeline_trace.analyse(trace_dir, limit))
            print("    trace: " + report.replace("\n", "\n    "), flush=True)
    Path(args.part_output).write_text(json.dumps(result))


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


# --- Web profile: the run (server, redis, parts, tables) ---


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(workdir: Path) -> tuple[subprocess.Popen, str] | None:
    """A throwaway redis-server on a free port (None when redis-server is not installed)."""
    import shutil

    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        return None
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _attempt in range(100):
        try:
            client.ping()
            return proc, url
        except redis.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def check_hosts(count: int) -> None:
    for index in range(count):
        with socket.socket() as probe:
            try:
                probe.bind((_web.host_address(index), 0))
            except OSError as exc:
                sys.exit(f"cannot bind {_web.host_address(index)} ({exc}): the web profile needs 127.0.0.0/8")


def web_main(args: argparse.Namespace) -> None:
    check_hosts(args.hosts)
    from bench._images import build_image_set

    print(f"medianalyse land benchmark, web profile, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", flush=True)
    print(f"consumer: {args.consumer_command}; cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f}", flush=True)
    plan = web_plan(args)
    groups = mix_groups(args.groups)
    print(f"building the image pool ({args.pool} per group of {[g.name for g in groups]})...", flush=True)
    image_set = build_image_set(count=args.pool, groups=groups)
    pool = [data for images in image_set.values() for data in images]
    context = multiprocessing.get_context("fork")
    receiving, sending = context.Pipe(duplex=False)
    server = context.Process(
        target=_web.serve_web,
        args=(plan.catalogue.entries, pool, args.hosts, sending, args.stall_body_start),
        daemon=True,
    )
    server.start()
    port, control_port = receiving.recv()
    stall_sends = "headers and the first body bytes" if args.stall_body_start else "headers"
    web_latencies = [plan.catalogue.entries[i].latency for i in plan.lands[f"web-{args.consumers[0]}"].ids]
    summary = _web.latency_summary(web_latencies)
    print(
        f"{len(plan.catalogue.entries)} URLs over {args.hosts} hosts (127.0.0.2:{port} ...), "
        f"pool of {len(pool)} images, "
        f"mean {statistics.mean(len(b) for b in pool) / 1024:.0f} KiB; web latencies: median "
        f"{summary['median_s'] * 1000:.0f} ms, {summary['at_1_5s']:.0%} at 1.5 s, {summary['at_4s']:.0%} at 4 s, "
        f"{summary['stalled']:.0%} stalled ({stall_sends}, then silence)",
        flush=True,
    )
    workdir = Path(tempfile.mkdtemp(prefix="medianalyse-bench-web-"))
    results: dict[int, dict[str, Any]] = {}
    redis_proc = None
    try:
        for consumers in args.consumers:
            redis_url = None
            if consumers > 1:
                started = start_redis(workdir)
                if started is None:
                    print(f"redis-server is not installed: the {consumers}-consumer part is skipped", flush=True)
                    continue
                redis_proc, redis_url = started
            output = workdir / f"part-{consumers}.json"
            command = [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]]
            command += ["--part", str(consumers), "--part-output", str(output)]
            command += ["--port", str(port), "--control-port", str(control_port)]
            if redis_url:
                command += ["--redis-url", redis_url]
            print(f"{consumers} consumer(s){' with ' + redis_url if redis_url else ''}:", flush=True)
            subprocess.run(command, check=True)
            results[consumers] = json.loads(output.read_text())
            if redis_proc is not None:
                redis_proc.terminate()
                redis_proc.wait()
                redis_proc = None
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
        server.terminate()
    print_web_report(results)


def _rate(phase: dict[str, Any]) -> float:
    return phase["media"] / phase["seconds"] if phase["seconds"] else 0.0


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**pass**" if ok else "**FAIL**")


def print_web_report(results: dict[int, dict[str, Any]]) -> None:
    if not results:
        return
    first = next(iter(results.values()))
    print()
    print("| setting | value |")
    print("|---|---|")
    for name, value in first["settings"].items():
        print(f"| {name} | {value} |")
    print(f"| consumer command | `{' '.join(Path(a).name if a == sys.executable else a for a in first['command'])}` |")
    print(f"| MALLOC_ARENA_MAX (environment) | {os.environ.get('MALLOC_ARENA_MAX') or 'unset'} |")

    print()
    print(
        "| phase | consumers | media | seconds | media/s | analysed | failed | peak in progress, one host "
        "| peak open connections, one host | peak in progress, all hosts | median in progress, all hosts | requests "
        "| connections opened | 200 | 304 | stalls | consumers' CPU s | CPU ms a request | load |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for consumers, part in results.items():
        for name, p in part["phases"].items():
            late = "" if p["finished"] else " (cancelled at the time limit)"
            print(
                f"| {name}{late} | {consumers} | {p['media']} | {p['seconds']:.1f} | {_rate(p):.1f} | {p['analysed']} "
                f"| {p['failed']} | {p['peak_host_in_progress']} | {p['peak_host_open']} | {p['peak_in_progress']} "
                f"| {p.get('median_in_progress')} | {p['requests']} | {p.get('connections', '-')} | {p['ok']} "
                f"| {p['not_modified']} | {p['stalls']} "
                f"| {p.get('consumer_cpu_s', 0):.1f} | {1000 * p.get('consumer_cpu_s', 0) / max(1, p['requests']):.2f} "
                f"| {p['load']:.1f} |"
            )

    print()
    print("| goal | consumers | measured | verdict |")
    print("|---|---:|---|---|")
    for consumers, part in results.items():
        phases = part["phases"]
        limit_text = part["settings"].get("MEDIA_ANALYSIS_PER_HOST_CONCURRENCY", "")
        try:
            limit: int | None = int(limit_text)
        except ValueError:
            limit = None
        if "web" in phases and "flat" in phases:
            ratio = _rate(phases["web"]) / _rate(phases["flat"])
            print(
                f"| web media/s >= {WEB_OVER_FLAT_GOAL:.0%} of flat | {consumers} | {_rate(phases['web']):.1f} / "
                f"{_rate(phases['flat']):.1f} = {ratio:.0%} | {_verdict(ratio >= WEB_OVER_FLAT_GOAL)} |"
            )
        peak = max((p["peak_host_in_progress"] for p in phases.values()), default=0)
        print(
            f"| requests in progress on one host <= per-host limit | {consumers} | peak {peak}, limit "
            f"{limit if limit is not None else 'none set'} | {_verdict(limit is not None and peak <= limit)} |"
        )
        if "dup" in phases:
            d = phases["dup"]
            print(
                f"| dup: one request per distinct URL | {consumers} | {d['media']} rows, {d['distinct_urls']} URLs: "
                f"{d['requests_to_answered']} requests to {d['answered_urls']} answered URLs (max "
                f"{d['max_per_answered_url']} for one), {d['requests_to_stalled']} to {d['stalled_urls']} stalled "
                f"| {_verdict(d['max_per_answered_url'] == 1 and d['answered_requested'] == d['answered_urls'])} |"
            )
        if "force" in phases and "web" in phases:
            f, w = phases["force"], phases["web"]
            speed = _rate(f) / _rate(w) if _rate(w) else 0.0
            print(
                f"| force: 304 for every URL with validators | {consumers} | {f['not_modified']} 304s, "
                f"{f['conditional']} conditional requests, {f['validator_urls']} answered URLs with validators "
                f"| {_verdict(f['not_modified'] >= f['validator_urls'])} |"
            )
            print(
                f"| force: >= {FORCE_SPEED_GOAL:.0f}x faster than the first analysis | {consumers} | "
                f"{_rate(f):.1f} / {_rate(w):.1f} media/s = {speed:.1f}x | {_verdict(speed >= FORCE_SPEED_GOAL)} |"
            )
        if "memory" in phases and "web" in phases:
            small, big = phases["web"], phases["memory"]
            small_peak = max(max(p) for p in small["rss_kib"])
            big_peak = max(max(p) for p in big["rss_kib"])
            in_flight = big["peak_in_progress"]
            ok = big_peak <= small_peak * MEMORY_GROWTH_ALLOWED and in_flight >= IN_FLIGHT_FOR_MEMORY
            print(
                f"| peak RSS of the largest consumer process does not grow (<= +{MEMORY_GROWTH_ALLOWED - 1:.0%}), "
                f"with >= {IN_FLIGHT_FOR_MEMORY} downloads in flight | {consumers} | {small['media']} media "
                f"{small_peak / 1024:.0f} MiB, {big['media']} media {big_peak / 1024:.0f} MiB (all its processes: "
                f"{sum(small['rss_kib'][0]) / 1024:.0f} and {sum(big['rss_kib'][0]) / 1024:.0f} MiB); "
                f"peak {in_flight} in flight, median {big.get('median_in_progress')} (90th percentile "
                f"{big.get('p90_in_progress')}; {small['media']} media: peak {small['peak_in_progress']}, median "
                f"{small.get('median_in_progress')}) | {_verdict(ok)} |"
            )
            small_job, big_job = small.get("job_peak_kib", 0), big.get("job_peak_kib", 0)
            print(
                f"| the same, while the job ran (before the clustering that follows it) | {consumers} | "
                f"{small_job / 1024:.0f} MiB, {big_job / 1024:.0f} MiB "
                f"({(big_job / small_job - 1) if small_job else 0:+.1%}) | "
                f"{_verdict(0 < big_job <= small_job * MEMORY_GROWTH_ALLOWED)} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classic", action="store_true", help="the flat one-host comparison with the predecessor")
    parser.add_argument("--media", type=int, default=2000)
    parser.add_argument("--big", type=int, default=20000, help="land size for the memory comparison (0 to skip)")
    parser.add_argument("--pool", type=int, default=25, help="distinct images per group of the mix")
    classic = parser.add_argument_group("classic")
    classic.add_argument("--upstream-sample", type=int, default=300)
    classic.add_argument("--latency", type=float, default=0.05)
    classic.add_argument("--workers", type=int, default=1, help="worker threads per consumer (run_huey -w)")
    classic.add_argument("--ocr-mix", action="store_true", help="the OCR mix, analysed with and without OCR")
    classic.add_argument("--ocr-rounds", type=int, default=2, help="pairs of lands (without, with OCR)")
    classic.add_argument("--ocr-pool", type=int, default=100, help="distinct pictures of the OCR mix served")
    web = parser.add_argument_group("web profile")
    web.add_argument("--phases", type=_split, default=list(PHASES), help=f"any of {','.join(PHASES)}")
    web.add_argument("--consumers", type=lambda t: [int(x) for x in _split(t)], default=[1, 2])
    web.add_argument("--hosts", type=int, default=40)
    web.add_argument(
        "--groups",
        default="",
        help="only these groups of the mix (comma-separated, e.g. jpeg_300x200,gif_600x400); the latencies drawn "
        "are the same whatever the pool",
    )
    web.add_argument("--dup-share", type=float, default=0.3, help="share of the dup land's rows repeating a URL")
    web.add_argument(
        "--consumer-command",
        default=os.environ.get("BENCH_CONSUMER_COMMAND", SERVE_CONSUMER),
        help="how one consumer is started (default: BENCH_CONSUMER_COMMAND, else scripts/serve's command)",
    )
    web.add_argument("--job-timeout", type=float, default=900.0, help="seconds before a job is cancelled")
    web.add_argument("--seed", type=int, default=0)
    web.add_argument(
        "--stall-body-start",
        action="store_true",
        help="stalled URLs send their first body bytes with the headers (the read timeout, not the body-start "
        "timeout, then ends them)",
    )
    web.add_argument(
        "--trace", help="a directory: the consumers trace their pipelines there (a folder per phase), and it is read"
    )
    # Set by the run for each of its parts.
    for name, kind in (("--part", int), ("--part-output", str), ("--port", int), ("--control-port", int)):
        parser.add_argument(name, type=kind, help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    unknown = sorted(set(args.phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(unknown)}")
    if args.classic and args.ocr_mix:
        ocr_mix_main(args)
    elif args.classic:
        classic_main(args)
    elif args.part:
        web_part(args)
    else:
        web_main(args)


if __name__ == "__main__":
    main()
