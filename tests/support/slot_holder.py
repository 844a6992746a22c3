"""Hold a slot of a shared host gate and its keep-alive connection, until killed.

``python -m tests.support.slot_holder REDIS_URL PREFIX LIMIT SLOT_TTL URL``: takes a slot of ``URL``'s host from a
``RedisHostGate`` (waiting for one if need be), downloads ``URL`` through a session of the engine (its connection
then idle in the session's pool, kept as a consumer keeps it while it holds the slot), prints ``held`` and sleeps.
What a consumer killed between two requests to a host leaves behind.
"""

from __future__ import annotations

import sys
import time

import redis

from media_analysis.engine.fetch import DownloadPolicy, build_session, download
from media_analysis.engine.fetch.hosts import HostSlot, RedisHostGate, host_key


def main(url: str, prefix: str, limit: int, slot_ttl: float, target: str) -> None:
    gate = RedisHostGate(redis.Redis.from_url(url), limit=limit, slot_ttl=slot_ttl, prefix=prefix)
    host = host_key(target)
    while not isinstance(gate.acquire(host), HostSlot):
        time.sleep(0.05)
    policy = DownloadPolicy(allow_private=("127.0.0.0/8",))
    session = build_session(policy)  # kept: its pool holds the connection
    download(session, target, policy)
    print("held", flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
