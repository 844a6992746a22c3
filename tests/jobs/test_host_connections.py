"""Open connections per host, idle keep-alive connections included, never exceed the per-host limit.

A slot of the host gate is a connection: the download pipeline keeps a slot, and its keep-alive connection, while
it has work for the host that may start at once, and closes the connection before it releases the slot. The
servers here are real (127.0.0.x) and count the connections open at each accept (``LocalHTTPServer``).
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
import redis

from media_analysis.engine.fetch.hosts import LocalHostGate
from media_analysis.jobs.hosts import host_gate
from media_analysis.jobs.pipeline import pipeline
from media_analysis.models import AnalysisJob, JobStatus
from tests.jobs.test_consumers import _assert_exact, _enqueue, _land_served_by, _wait_finished
from tests.jobs.test_download_pipeline import Completions, _planned_job, _png, _run_async
from tests.support.http_server import LocalHTTPServer, Reply, redirect
from tests.support.processes import ROOT, Consumer, child_env, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _run_job(urls: list[str], chunk_size: int) -> AnalysisJob:
    """Plan a job of ``urls``, run its chunks in this process's pipeline, and return its row once they are done."""
    job, chunk_ids = _planned_job(urls, chunk_size=chunk_size)
    completions = Completions()
    _run_async(chunk_ids, completions)
    completions.wait_for(*chunk_ids)
    job.refresh_from_db()
    return job


def _wait_closed(*servers: LocalHTTPServer) -> None:
    wait_until(lambda: all(s.open_connections() == 0 for s in servers), timeout=30, what="the connections to close")


def _wait_pipeline_idle() -> None:
    pipe = pipeline()
    wait_until(lambda: pipe.stats()["batches"] == 0, timeout=60, what="the pipeline to be idle")


def test_the_in_process_limit_bounds_open_connections_and_keeps_them_alive(settings, http_server):
    settings.REDIS_URL = ""
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 2
    urls = [
        http_server.route(f"/{n}.png", Reply(body=_png(n), content_type="image/png", latency=0.02)) for n in range(24)
    ]
    _wait_pipeline_idle()
    http_server.reset_connection_counts()
    job = _run_job(urls, chunk_size=6)
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, 24)
    assert http_server.hits() == 24
    assert http_server.peak_open_connections <= 2
    # Consecutive requests to the host went over kept connections.
    assert http_server.connections_accepted < 24
    # Idle, the process keeps no connection to the host, and holds none of its slots.
    _wait_closed(http_server)
    gate = host_gate()
    assert isinstance(gate, LocalHostGate)
    slots = [gate.try_acquire("127.0.0.1") for _ in range(2)]
    assert all(slot is not None for slot in slots)
    for slot in slots:
        assert slot is not None
        gate.release(slot)


def test_a_redirect_to_another_host_leaves_no_connection_open_and_no_slot_held(settings, http_server):
    settings.REDIS_URL = ""
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 1
    settings.MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS = ["127.0.0.1", "127.0.0.2"]
    other = LocalHTTPServer(host="127.0.0.2").start()
    try:
        targets = [other.route(f"/moved-{n}.png", Reply(body=_png(n), content_type="image/png")) for n in range(3)]
        urls = [http_server.route(f"/{n}.png", redirect(target)) for n, target in enumerate(targets)]
        urls += [
            http_server.route(f"/here-{n}.png", Reply(body=_png(10 + n), content_type="image/png")) for n in range(3)
        ]
        _wait_pipeline_idle()
        job = _run_job(urls, chunk_size=10)
        assert (job.status, job.analysed) == (JobStatus.COMPLETED, 6)
        assert other.hits() == 3
        # The other host's connections were asked to close with their response: none outlived its download.
        assert other.connections_accepted == 3
        assert all(r.headers.get("connection") == "close" for r in other.requests)
        assert http_server.peak_open_connections <= 1
        _wait_closed(http_server, other)
        gate = host_gate()
        assert isinstance(gate, LocalHostGate)
        # No slot of either host is left held: one may be taken for each.
        for host in ("127.0.0.1", "127.0.0.2"):
            slot = gate.try_acquire(host)
            assert slot is not None, host
            gate.release(slot)
    finally:
        other.stop()


@pytest.mark.slow
def test_two_consumers_sharing_the_redis_limit_never_open_more_connections_than_it(
    http_server, tmp_path, redis_server_url
):
    redis.Redis.from_url(redis_server_url).flushdb()
    land = _land_served_by(http_server, images=60, latency=0.1)
    env = child_env(
        tmp_path,
        redis_url=redis_server_url,
        MEDIA_ANALYSIS_CHUNK_SIZE="4",
        MEDIA_ANALYSIS_PER_HOST_CONCURRENCY="2",
        # A consumer takes a chunk only while few URLs wait to start: the other one gets chunks too.
        MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY="2",
    )
    consumers = [Consumer(env, tmp_path / f"consumer-{i}.log") for i in range(2)]
    try:
        for consumer in consumers:
            wait_until(lambda c=consumer: "consumer started" in c.log(), timeout=120, what="the consumers to start")
        job = _wait_finished(_enqueue(env, land), consumers, timeout=180)
        # Both consumers idle: neither keeps a connection it holds no slot for.
        _wait_closed(http_server)
    finally:
        for consumer in consumers:
            consumer.stop()
    _assert_exact(job, analysed=60, failed=0)
    workers = {chunk.claimed_by.rpartition(":")[2] for chunk in job.chunks.all()}
    assert len(workers) == 2, f"both consumers should have taken chunks, got {workers}"
    assert http_server.hits() == 60
    assert http_server.peak_open_connections <= 2
    assert http_server.connections_accepted < 60


@pytest.mark.slow
def test_a_consumer_killed_holding_a_slot_and_its_connection_frees_both(settings, http_server, redis_server_url):
    settings.REDIS_URL = redis_server_url
    settings.HUEY_NAME = f"medianalyse-test-{uuid.uuid4().hex}"
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 1
    gate = host_gate(slot_ttl=2.0)
    client = redis.Redis.from_url(redis_server_url)
    first = http_server.route("/first.png", Reply(body=_png(1), content_type="image/png"))
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.support.slot_holder", redis_server_url, gate.prefix, "1", "2.0", first],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        assert http_server.open_connections() == 1
        assert gate.try_acquire("127.0.0.1") is None  # its slot is taken
        holder.kill()  # what a crash or an OOM kill does: no release
        holder.wait(timeout=10)
        # The kernel closes its connection; its slot comes back when it expires.
        _wait_closed(http_server)
        _wait_pipeline_idle()
        urls = [http_server.route(f"/{n}.png", Reply(body=_png(n), content_type="image/png")) for n in range(4)]
        job = _run_job(urls, chunk_size=10)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
        keys = list(client.scan_iter(match=gate.prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, 4)
    assert http_server.peak_open_connections <= 1
