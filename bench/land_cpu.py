"""CPU per media of one consumer on the classic 50 ms land, for this code or another checkout of it.

The classic land (``bench/land.py --classic``): one server on 127.0.0.1 adding 50 ms to every
response, the engine benchmark's mix of 200 images, each URL's bytes made distinct. One
consumer (``manage.py run_huey -w 1 -k thread``, as the classic mode starts it) analyses a land
of ``--media`` media; the script prints media/s from trigger to completed job and the
consumer's CPU time (user + system, from ``/proc/<pid>/stat``, read when the job is triggered
and when it ends, so start-up is left out) and minor page faults per media. CPU per media depends far less on what
else the machine runs than media/s does, so runs of two codes taken in turn compare well.

``--constant-analysis`` replaces the consumer's image analysis by a constant result (that of a
small image, without thumbnail: ``bench/_constant_consumer.py``), so that what remains is the consumer's
CPU around the analysis: the downloads, the pipeline's threads and their wake-ups, the lookups, the
database writes.

``--tree`` runs the consumer and the Django models of another checkout (a worktree of an
older commit, with its own ``.venv``): the server and the images stay this script's, so both
codes get the same bytes.

    .venv/bin/python bench/land_cpu.py [--media 1000] [--tree /path/to/checkout] [--runs 1] [--constant-analysis]
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.land import classic_urls, django_environment, process_tree, serve  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
CONSUMER_ARGS = ["run_huey", "-w", "1", "-k", "thread", "-d", "0.05", "-m", "0.2", "-n"]


def usage(pids: list[int]) -> tuple[float, int]:
    """User + system CPU time of these processes, in seconds, and their minor page faults (0 for one that is gone)."""
    ticks = faults = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        faults += int(fields[7])  # minflt: field 10 of the line
        ticks += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of the line
    return ticks / TICKS, faults


def image_pool(count: int, cache: Path | None) -> list[bytes]:
    if cache is not None and cache.exists():
        return pickle.loads(cache.read_bytes())
    from bench._images import build_image_set

    pool = [data for images in build_image_set(count=count).values() for data in images]
    if cache is not None:
        cache.write_bytes(pickle.dumps(pool))
    return pool


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=1, help="lands analysed one after the other, a consumer each")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose code the consumer runs")
    parser.add_argument("--pool", type=int, default=25, help="distinct images per group of the mix")
    parser.add_argument("--pool-cache", type=Path, help="keep the built image pool in this file for later runs")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--constant-analysis", action="store_true", help="leave only the pipeline's own CPU")
    args = parser.parse_args()
    tree = args.tree.resolve()

    pool = image_pool(args.pool, args.pool_cache)
    server, base_url = serve(pool, args.latency)  # forked before Django starts

    # From here on, Django and the project's apps are the tree's.
    sys.path.insert(0, str(tree))
    workdir = Path(tempfile.mkdtemp(prefix="medianalyse-bench-cpu-"))
    env = django_environment(workdir, None, "127.0.0.1")

    from bench.land import make_land, run_job, stop_consumers

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tree, capture_output=True, text=True)
    print(
        f"classic land CPU, {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC, tree {tree} at {commit.stdout.strip()}, "
        f"load {os.getloadavg()[0]:.1f}{', constant analysis' if args.constant_analysis else ''}",
        flush=True,
    )
    command = [sys.executable, "manage.py", *CONSUMER_ARGS]
    if args.constant_analysis:
        command = [sys.executable, str(ROOT / "bench" / "_constant_consumer.py"), *CONSUMER_ARGS]
    for run in range(args.runs):
        land = make_land(f"cpu-{run}", classic_urls(base_url, args.media, land=run + 1))
        log = open(workdir / f"consumer-{run}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            command, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        time.sleep(2.0)  # imports before the clock starts
        try:
            before, faults_before = usage(process_tree(proc.pid))
            seconds, job, _finished = run_job(land)
            after, faults_after = usage(process_tree(proc.pid))
            used, faults = after - before, faults_after - faults_before
        finally:
            stop_consumers([proc])
        print(
            f"run {run + 1}: {job.total} media, {job.analysed} analysed, {job.failed} failed, {seconds:.1f} s, "
            f"{job.total / seconds:.1f} media/s, consumer CPU {used:.1f} s, {used / job.total * 1000:.2f} ms/media, "
            f"{faults / job.total:.0f} minor faults/media, load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    server.terminate()


if __name__ == "__main__":
    main()
