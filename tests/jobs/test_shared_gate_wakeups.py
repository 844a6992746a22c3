"""A pipeline waiting for a host that other processes fill starts its download when one of them releases a slot.

The shared gate publishes every release; the pipeline, which does not ask the gate again about a host it found at
its limit for a while (``pipeline.FULL_RECHECK``, made very long here), is woken by the release it hears.
"""

from __future__ import annotations

import uuid

import pytest
import redis

from media_analysis.engine.fetch.hosts import HostSlot
from media_analysis.jobs import pipeline as pipeline_module
from media_analysis.jobs.hosts import host_gate
from media_analysis.jobs.pipeline import pipeline
from media_analysis.models import JobStatus
from tests.jobs.test_download_pipeline import Completions, _planned_job, _png, _run_async
from tests.support.http_server import Reply
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_release_by_another_process_wakes_the_waiting_dispatcher(
    settings, http_server, redis_server_url, monkeypatch
):
    settings.REDIS_URL = redis_server_url
    settings.HUEY_NAME = f"medianalyse-test-{uuid.uuid4().hex}"
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 1
    # Without the release heard, the pipeline would not ask about the full host again for ten minutes.
    monkeypatch.setattr(pipeline_module, "FULL_RECHECK", 600.0)
    monkeypatch.setattr(pipeline_module, "_instance", None)
    gate = host_gate()
    client = redis.Redis.from_url(redis_server_url)
    # Another process's gate (its own connection, the same deployment's keys) holds the host's only slot.
    other = type(gate)(client, limit=1, prefix=gate.prefix)
    url = http_server.route("/waiting.png", Reply(body=_png(7), content_type="image/png"))
    held = other.acquire("127.0.0.1")
    assert isinstance(held, HostSlot)
    try:
        job, chunk_ids = _planned_job([url], chunk_size=1)
        pipe = pipeline()
        completions = Completions()
        _run_async(chunk_ids, completions)
        # Refused at the limit: the host waits, nothing is requested.
        wait_until(lambda: pipe.stats()["refused_hosts"] == 1, timeout=30, what="the host to be refused")
        assert http_server.hits() == 0

        def subscribed() -> bool:
            channel = gate.channel
            return dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) >= 1

        wait_until(subscribed, timeout=30, what="the pipeline to listen to the releases")
        other.release(held)
        held = None
        completions.wait_for(*chunk_ids, timeout=60)
    finally:
        if held is not None:
            other.release(held)
        keys = list(client.scan_iter(match=gate.prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()
    job.refresh_from_db()
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, 1)
    assert http_server.hits() == 1
