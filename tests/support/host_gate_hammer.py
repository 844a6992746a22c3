"""Hammer a ``RedisHostGate`` from this process: ``python -m tests.support.host_gate_hammer URL PREFIX HOST LIMIT``.

Threads take and give back slots of one host; each holder increments a shared Redis counter after its grant and
decrements it before its release, so the counter never exceeds the number of slots really held. Prints one JSON
line: the grants made and the highest counter value seen. The run starts once ``PROCESSES`` hammers are ready
(they count themselves in a Redis key), so that they overlap.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import redis

from media_analysis.engine.fetch.hosts import RedisHostGate

THREADS = 8
GRANTS_PER_THREAD = 150


def hammer(client: redis.Redis, gate: RedisHostGate, host: str, counter: str) -> tuple[int, int]:
    highest = 0
    grants = 0
    lock = threading.Lock()

    def work() -> None:
        nonlocal highest, grants
        mine = 0
        while mine < GRANTS_PER_THREAD:
            slot = gate.try_acquire(host)
            if slot is None:
                time.sleep(0)
                continue
            held = int(client.incr(counter))
            client.decr(counter)
            gate.release(slot)
            gate.release(slot)  # idempotent: must not free a second slot
            mine += 1
            with lock:
                highest = max(highest, held)
                grants += 1

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return grants, highest


def main(url: str, prefix: str, host: str, limit: int, processes: int) -> None:
    client = redis.Redis.from_url(url)
    gate = RedisHostGate(client, limit=limit, prefix=prefix)
    ready = client.incr(prefix + "ready")
    deadline = time.monotonic() + 30
    while ready < processes and time.monotonic() < deadline:
        time.sleep(0.01)
        ready = int(client.get(prefix + "ready") or 0)
    grants, highest = hammer(client, gate, host, prefix + "holders")
    print(json.dumps({"grants": grants, "highest": highest}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
