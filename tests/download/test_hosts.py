"""Per-host politeness: ``host_key``, ``LocalHostGate`` and ``RedisHostGate`` (a real Redis, distinct key prefixes)."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from media_analysis.engine.fetch.hosts import (
    HostGateUnavailable,
    HostSlot,
    LocalHostGate,
    RedisHostGate,
    Refusal,
    host_key,
)
from tests.support.http_server import unused_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Images.Example.ORG/a.png", "images.example.org"),
        ("http://example.org:8080/a.png", "example.org"),
        ("http://example.org./a.png", "example.org"),
        ("http://user:secret@example.org/a.png", "example.org"),
        ("http://[2001:DB8::1]:8080/a.png", "2001:db8::1"),
        ("http://192.0.2.7/a.png", "192.0.2.7"),
        ("http://bücher.example/a.png", "xn--bcher-kva.example"),
        ("/relative/a.png", ""),
        ("not a url", ""),
        ("http://[::1/a.png", ""),
        ("", ""),
    ],
)
def test_host_key(url, expected):
    assert host_key(url) == expected


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- in-process gate -------------------------------------------------------------------------------------------


def test_local_gate_limits_open_slots_per_host():
    gate = LocalHostGate(limit=2)
    first, second = gate.try_acquire("a.example"), gate.try_acquire("a.example")
    assert isinstance(first, HostSlot)
    assert isinstance(second, HostSlot)
    assert first.token != second.token
    assert gate.try_acquire("a.example") is None
    assert gate.try_acquire("b.example") is not None  # other hosts go on
    gate.release(first)
    gate.release(first)  # idempotent: frees one slot, not two
    assert gate.try_acquire("a.example") is not None
    assert gate.try_acquire("a.example") is None


def test_local_gate_minimum_delay_between_request_starts():
    clock = FakeClock()
    gate = LocalHostGate(limit=4, min_delay=2.0, clock=clock)
    slot = gate.try_acquire("a.example")
    assert slot is not None
    gate.release(slot)
    assert gate.try_acquire("a.example") is None
    assert gate.ready_in("a.example") == pytest.approx(2.0)
    clock.now += 1.5
    assert gate.try_acquire("a.example") is None
    assert gate.ready_in("a.example") == pytest.approx(0.5)
    clock.now += 0.5
    assert gate.ready_in("a.example") == 0
    assert gate.try_acquire("a.example") is not None
    assert gate.try_acquire("b.example") is not None


def test_local_gate_pause_is_never_shortened():
    clock = FakeClock()
    gate = LocalHostGate(limit=4, clock=clock)
    gate.pause("a.example", 30)
    gate.pause("a.example", 5)  # an earlier end: the longer pause stays
    assert gate.try_acquire("a.example") is None
    assert gate.ready_in("a.example") == pytest.approx(30)
    assert gate.try_acquire("b.example") is not None
    clock.now += 29
    assert gate.try_acquire("a.example") is None
    gate.pause("a.example", 10)  # a later end extends it
    clock.now += 9
    assert gate.try_acquire("a.example") is None
    clock.now += 1
    assert gate.try_acquire("a.example") is not None
    gate.pause("a.example", -3)  # nothing to wait for
    assert gate.ready_in("a.example") == 0


def test_local_gate_ready_in_at_the_limit_is_a_short_hint():
    gate = LocalHostGate(limit=1)
    assert gate.ready_in("a.example") == 0
    slot = gate.try_acquire("a.example")
    assert slot is not None
    assert gate.ready_in("a.example") == gate.busy_hint > 0
    gate.release(slot)
    assert gate.ready_in("a.example") == 0


def test_local_gate_acquire_says_why_it_refuses():
    clock = FakeClock()
    gate = LocalHostGate(limit=1, clock=clock)
    slot = gate.acquire("a.example")
    assert isinstance(slot, HostSlot)
    assert gate.acquire("a.example") == Refusal(at_limit=True)
    gate.release(slot)
    gate.pause("a.example", 3)
    refusal = gate.acquire("a.example")
    assert isinstance(refusal, Refusal)
    assert (refusal.at_limit, refusal.wait) == (False, 3)
    clock.now += 3
    assert isinstance(gate.acquire("a.example"), HostSlot)
    heard: list[str] = []
    gate.watch_releases(heard.append)  # nothing to hear: the caller releases its own slots
    gate.release(gate.try_acquire("b.example"))
    assert heard == []


def test_local_gate_forgets_idle_hosts():
    gate = LocalHostGate(limit=1)
    for index in range(10 * LocalHostGate._sweep_floor):
        slot = gate.try_acquire(f"h{index}.example")
        assert slot is not None
        gate.release(slot)
    assert len(gate._hosts) <= 2 * LocalHostGate._sweep_floor


def test_local_gate_rejects_bad_configuration():
    with pytest.raises(ValueError):
        LocalHostGate(limit=0)
    with pytest.raises(ValueError):
        LocalHostGate(limit=1, min_delay=-1)


def hammer(gate, host: str, limit: int, threads: int = 24, grants_per_thread: int = 200) -> tuple[int, int]:
    """Threads take and give back slots of ``host``; return (grants, most holders seen at once)."""
    lock = threading.Lock()
    holders = highest = grants = 0
    start = threading.Barrier(threads)

    def work() -> None:
        nonlocal holders, highest, grants
        start.wait()
        mine = 0
        while mine < grants_per_thread:
            slot = gate.try_acquire(host)
            if slot is None:
                time.sleep(0)
                continue
            with lock:
                holders += 1
                highest = max(highest, holders)
            time.sleep(0)
            with lock:
                holders -= 1
                grants += 1
            gate.release(slot)
            mine += 1

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return grants, highest


def test_local_gate_never_exceeds_its_limit_under_threads():
    gate = LocalHostGate(limit=3)
    grants, highest = hammer(gate, "a.example", 3)
    assert grants == 24 * 200
    assert 1 <= highest <= 3


# --- Redis gate --------------------------------------------------------------------------------------------------


@pytest.fixture
def client(redis_server_url) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server_url)
    yield client
    client.close()


@pytest.fixture
def prefix(client) -> Iterator[str]:
    prefix = f"medianalyse-test:hosts:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)


def test_redis_gate_limits_open_slots_per_host(client, prefix):
    gate = RedisHostGate(client, limit=2, prefix=prefix)
    first, second = gate.try_acquire("a.example"), gate.try_acquire("a.example")
    assert first is not None
    assert second is not None
    assert gate.try_acquire("a.example") is None
    assert gate.ready_in("a.example") == gate.busy_hint
    assert gate.try_acquire("b.example") is not None
    gate.release(first)
    gate.release(first)
    assert gate.ready_in("a.example") == 0
    assert gate.try_acquire("a.example") is not None
    assert gate.try_acquire("a.example") is None


def test_redis_gate_acquire_says_why_it_refuses(client, prefix):
    gate = RedisHostGate(client, limit=1, prefix=prefix)
    slot = gate.acquire("a.example")
    assert isinstance(slot, HostSlot)
    assert gate.acquire("a.example") == Refusal(at_limit=True)
    gate.release(slot)
    gate.pause("a.example", 60)
    refusal = gate.acquire("a.example")
    assert isinstance(refusal, Refusal)
    assert not refusal.at_limit
    assert 50 < refusal.wait <= 60


def test_redis_gate_releases_are_heard_by_the_other_gates(client, prefix, redis_server_url):
    other_client = redis.Redis.from_url(redis_server_url)
    try:
        mine = RedisHostGate(client, limit=1, prefix=prefix)
        theirs = RedisHostGate(other_client, limit=1, prefix=prefix)
        heard: queue.SimpleQueue[str] = queue.SimpleQueue()
        mine.watch_releases(heard.put)
        deadline = time.monotonic() + 30
        while dict(client.pubsub_numsub(mine.channel)).get(mine.channel.encode(), 0) < 1:
            assert time.monotonic() < deadline, "the gate never subscribed to the releases"
            time.sleep(0.01)
        slot = theirs.acquire("a.example")
        assert isinstance(slot, HostSlot)
        theirs.release(slot)
        assert heard.get(timeout=10) == "a.example"
        theirs.release(slot)  # released already: nothing is published
        own = mine.acquire("b.example")
        assert isinstance(own, HostSlot)
        mine.release(own)  # a gate does not hear its own releases
        last = theirs.acquire("c.example")
        assert isinstance(last, HostSlot)
        theirs.release(last)
        assert heard.get(timeout=10) == "c.example"
        assert heard.empty()
    finally:
        other_client.close()


def test_redis_gate_is_shared_by_gates_on_other_connections(client, prefix, redis_server_url):
    other_client = redis.Redis.from_url(redis_server_url)
    try:
        mine = RedisHostGate(client, limit=1, prefix=prefix)
        theirs = RedisHostGate(other_client, limit=1, prefix=prefix)
        slot = mine.try_acquire("a.example")
        assert slot is not None
        assert theirs.try_acquire("a.example") is None
        mine.release(slot)
        assert theirs.try_acquire("a.example") is not None
        # Another prefix (another deployment on the same Redis) has limits of its own.
        assert RedisHostGate(other_client, limit=1, prefix=prefix + "other:").try_acquire("a.example") is not None
    finally:
        other_client.close()


def test_redis_gate_pause_is_never_shortened(client, prefix):
    gate = RedisHostGate(client, limit=4, prefix=prefix)
    gate.pause("a.example", 60)
    gate.pause("a.example", 1)
    assert gate.try_acquire("a.example") is None
    assert 50 < gate.ready_in("a.example") <= 60
    assert gate.try_acquire("b.example") is not None
    gate.pause("a.example", 120)
    assert 110 < gate.ready_in("a.example") <= 120
    gate.pause("c.example", 0)
    assert gate.ready_in("c.example") == 0
    assert gate.try_acquire("c.example") is not None


def test_redis_gate_pause_ends(client, prefix):
    gate = RedisHostGate(client, limit=1, prefix=prefix)
    gate.pause("a.example", 0.2)
    assert gate.try_acquire("a.example") is None
    assert wait_for_slot(gate, "a.example") is not None


def wait_for_slot(gate, host: str, within: float = 10.0) -> HostSlot | None:
    """Ask until a slot is granted (the gate's ready_in says when to ask again), at most ``within`` seconds."""
    ends = time.monotonic() + within
    while time.monotonic() < ends:
        slot = gate.try_acquire(host)
        if slot is not None:
            return slot
        time.sleep(min(max(gate.ready_in(host), 0.01), 0.5))
    return None


def test_redis_gate_minimum_delay(client, prefix):
    gate = RedisHostGate(client, limit=4, min_delay=30, prefix=prefix)
    slot = gate.try_acquire("a.example")
    assert slot is not None
    gate.release(slot)
    assert gate.try_acquire("a.example") is None
    assert 20 < gate.ready_in("a.example") <= 30
    assert gate.try_acquire("b.example") is not None

    short = RedisHostGate(client, limit=4, min_delay=0.2, prefix=prefix + "short:")
    assert short.try_acquire("a.example") is not None
    assert short.try_acquire("a.example") is None
    assert wait_for_slot(short, "a.example") is not None


def test_redis_gate_frees_the_slot_of_a_dead_holder(client, prefix):
    gate = RedisHostGate(client, limit=1, slot_ttl=300, prefix=prefix)
    slots_key, _meta = gate.keys("a.example")
    # A holder that died long ago left its slot, with an expiry in the past.
    client.zadd(slots_key, {"dead-holder": 1})
    assert gate.ready_in("a.example") == 0
    assert gate.try_acquire("a.example") is not None
    assert client.zscore(slots_key, "dead-holder") is None

    # And a real slot never released is freed once its slot_ttl has passed.
    short = RedisHostGate(client, limit=1, slot_ttl=0.2, prefix=prefix + "short:")
    assert short.try_acquire("a.example") is not None
    assert short.try_acquire("a.example") is None
    assert wait_for_slot(short, "a.example") is not None


def test_redis_gate_keys_expire_when_idle(client, prefix):
    gate = RedisHostGate(client, limit=2, min_delay=5, slot_ttl=60, prefix=prefix)
    slot = gate.try_acquire("a.example")
    assert slot is not None
    gate.pause("b.example", 20)
    slots_key, meta_key = gate.keys("a.example")
    paused_key = gate.keys("b.example")[1]
    keys = {key.decode() for key in client.scan_iter(match=prefix + "*")}
    assert keys == {slots_key, meta_key, paused_key}
    assert 0 < client.pttl(slots_key) <= 60_000
    assert 0 < client.pttl(meta_key) <= 5_000
    assert 10_000 < client.pttl(paused_key) <= 20_000
    gate.release(slot)
    assert not client.exists(slots_key)  # the last slot given back: nothing left of the set


def test_redis_gate_unreachable_raises_a_clear_error():
    client = redis.Redis(
        host="127.0.0.1", port=unused_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), retries=0)
    )
    gate = RedisHostGate(client, limit=1, prefix="medianalyse-test:unreachable:")
    with pytest.raises(HostGateUnavailable, match=r"a\.example"):
        gate.try_acquire("a.example")
    with pytest.raises(HostGateUnavailable):
        gate.pause("a.example", 5)
    with pytest.raises(HostGateUnavailable):
        gate.ready_in("a.example")
    gate.release(HostSlot("a.example", "token"))  # logged, never raised: the slot expires by itself


def test_redis_gate_never_exceeds_its_limit_under_threads(client, prefix):
    gate = RedisHostGate(client, limit=3, prefix=prefix)
    grants, highest = hammer(gate, "a.example", 3, threads=16, grants_per_thread=60)
    assert grants == 16 * 60
    assert 1 <= highest <= 3


@pytest.mark.slow
def test_redis_gate_never_exceeds_its_limit_across_processes(client, prefix, redis_server_url):
    limit = 3
    command = [sys.executable, "-m", "tests.support.host_gate_hammer", redis_server_url, prefix, "a.example"]
    processes = [
        subprocess.Popen([*command, str(limit), "2"], cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["grants"] for r in results] == [8 * 150, 8 * 150]
    assert all(1 <= r["highest"] <= limit for r in results)
    assert int(client.get(prefix + "holders") or 0) == 0


# --- keeping a slot for the next request (a kept connection) ---------------------------------------------------


def test_local_gate_renew_keeps_a_held_slot_within_the_delay_and_pause():
    clock = FakeClock()
    gate = LocalHostGate(limit=1, min_delay=2.0, clock=clock)
    slot = gate.try_acquire("a.example")
    assert slot is not None
    # Within the minimum delay since the request's start: refused, and the slot stays held.
    assert gate.renew(slot) == Refusal(at_limit=False, wait=pytest.approx(2.0))
    assert gate.try_acquire("a.example") is None
    clock.now += 2.0
    assert gate.renew(slot) is slot
    # The renewal counts as a start: the delay runs from it.
    assert gate.renew(slot) == Refusal(at_limit=False, wait=pytest.approx(2.0))
    clock.now += 2.0
    gate.pause("a.example", 30)
    assert gate.renew(slot) == Refusal(at_limit=False, wait=pytest.approx(30.0))
    gate.release(slot)
    # A slot given back is not kept again.
    clock.now += 60
    assert gate.renew(slot) == Refusal(at_limit=True)
    assert gate.try_acquire("a.example") is not None


def test_redis_gate_renew_moves_the_expiry_forward_and_refuses_a_lost_slot(client, prefix):
    gate = RedisHostGate(client, limit=1, slot_ttl=60, prefix=prefix)
    slot = gate.acquire("a.example")
    assert isinstance(slot, HostSlot)
    slots_key, _meta = gate.keys("a.example")
    # Its expiry brought near, as after a long run of kept requests.
    client.zadd(slots_key, {slot.token: int(client.time()[0]) * 1000 + 5_000}, xx=True)
    assert gate.renew(slot) is slot
    expiry = client.zscore(slots_key, slot.token)
    assert expiry is not None
    assert expiry > int(client.time()[0]) * 1000 + 50_000
    assert gate.acquire("a.example") == Refusal(at_limit=True)  # still held by its holder
    gate.pause("a.example", 30)
    refusal = gate.renew(slot)
    assert isinstance(refusal, Refusal)
    assert not refusal.at_limit
    assert 20 < refusal.wait <= 30
    gate.release(slot)
    assert gate.renew(slot) == Refusal(at_limit=True)
    # A slot that expired (its holder taken for dead) is not kept either.
    short = RedisHostGate(client, limit=1, slot_ttl=0.2, prefix=prefix + "short:")
    lost = short.acquire("a.example")
    assert isinstance(lost, HostSlot)
    time.sleep(0.3)
    assert short.renew(lost) == Refusal(at_limit=True)
    assert short.try_acquire("a.example") is not None


def test_redis_gate_renew_keeps_the_minimum_delay(client, prefix):
    gate = RedisHostGate(client, limit=2, min_delay=30, prefix=prefix)
    slot = gate.acquire("a.example")
    assert isinstance(slot, HostSlot)
    refusal = gate.renew(slot)
    assert isinstance(refusal, Refusal)
    assert not refusal.at_limit
    assert 20 < refusal.wait <= 30
    short = RedisHostGate(client, limit=2, min_delay=1.0, prefix=prefix + "short:")
    kept = short.acquire("a.example")
    assert isinstance(kept, HostSlot)
    time.sleep(1.05)
    assert short.renew(kept) is kept
    assert isinstance(short.renew(kept), Refusal)  # the renewal was a start
