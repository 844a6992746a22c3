"""The host gate and robots.txt cache this deployment builds from its settings (``media_analysis.jobs.hosts``)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import redis
from django.test import override_settings

from media_analysis.engine.fetch.hosts import LocalHostGate, RedisHostGate
from media_analysis.engine.fetch.robots import RobotsCache
from media_analysis.jobs.hosts import default_slot_ttl, host_gate, robots_cache
from tests.support.http_server import Reply


@override_settings(REDIS_URL="", MEDIA_ANALYSIS_PER_HOST_CONCURRENCY=2, MEDIA_ANALYSIS_PER_HOST_DELAY=0.5)
def test_without_redis_one_gate_per_process():
    gate = host_gate()
    assert isinstance(gate, LocalHostGate)
    assert (gate.limit, gate.min_delay) == (2, 0.5)
    assert host_gate() is gate
    with override_settings(MEDIA_ANALYSIS_PER_HOST_CONCURRENCY=0, MEDIA_ANALYSIS_PER_HOST_DELAY=-1):
        clamped = host_gate()
        assert isinstance(clamped, LocalHostGate)
        assert (clamped.limit, clamped.min_delay) == (1, 0.0)


def test_with_redis_a_gate_shared_across_processes_and_kept_apart_per_deployment(redis_server_url):
    names = [f"medianalyse-test-{uuid.uuid4().hex}" for _ in range(2)]
    gates = []
    for name in names:
        with override_settings(
            REDIS_URL=redis_server_url,
            HUEY_NAME=name,
            MEDIA_ANALYSIS_PER_HOST_CONCURRENCY=1,
            MEDIA_ANALYSIS_DOWNLOAD_DEADLINE=400.0,
        ):
            gate = host_gate()
            assert isinstance(gate, RedisHostGate)
            assert host_gate() is gate
            assert name in gate.prefix
            assert gate.slot_ttl == default_slot_ttl() == 800.0
            gates.append(gate)
    client = redis.Redis.from_url(redis_server_url)
    try:
        first = gates[0].try_acquire("a.example")
        assert first is not None
        assert gates[0].try_acquire("a.example") is None
        # The other deployment on the same Redis counts its own slots.
        second = gates[1].try_acquire("a.example")
        assert second is not None
        gates[0].release(first)
        gates[1].release(second)
    finally:
        for gate in gates:
            keys = list(client.scan_iter(match=gate.prefix + "*"))
            if keys:
                client.delete(*keys)
        client.close()


@override_settings(MEDIA_ANALYSIS_RESPECT_ROBOTS=False)
def test_robots_are_ignored_by_default():
    assert robots_cache() is None


@override_settings(
    MEDIA_ANALYSIS_RESPECT_ROBOTS=True, MEDIA_ANALYSIS_ROBOTS_TTL=120.0, MEDIA_ANALYSIS_USER_AGENT="medianalyse-x/2"
)
def test_robots_cache_from_the_settings(http_server):
    cache = robots_cache()
    assert isinstance(cache, RobotsCache)
    assert cache.ttl == 120.0
    assert cache.user_agent == "medianalyse-x/2"
    assert robots_cache() is cache
    rules = b"User-agent: medianalyse-x\nDisallow: /no\n"
    http_server.route("/robots.txt", Reply(body=rules, content_type="text/plain"))
    assert not cache.allowed(http_server.url("/no/a.png"))
    assert cache.allowed(http_server.url("/yes/a.png"))


@pytest.mark.parametrize("name", ["PER_HOST_CONCURRENCY", "PER_HOST_DELAY", "RESPECT_ROBOTS", "ROBOTS_TTL"])
def test_every_politeness_setting_is_documented(name):
    guide = (Path(__file__).resolve().parents[2] / "docs" / "MEDIA_ANALYSIS_GUIDE.md").read_text()
    assert f"| `MEDIA_ANALYSIS_{name}` |" in guide
