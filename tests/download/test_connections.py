"""Which connections a session keeps open: ``trim_connections``, and hops to another host asked to close.

A per-host limit that counts connections needs both: its caller closes what it keeps beyond its slots before it
gives one back, and a redirect to another host leaves nothing open there.
"""

from __future__ import annotations

import threading

from media_analysis.engine.fetch import build_session, download
from media_analysis.engine.fetch.robots import RobotsCache
from media_analysis.engine.fetch.session import trim_connections
from tests.download.conftest import local_policy
from tests.support.http_server import LocalHTTPServer, Reply, redirect
from tests.support.processes import wait_until


def _wait_open(server: LocalHTTPServer, count: int) -> None:
    wait_until(lambda: server.open_connections() == count, timeout=10, what=f"{count} connections open")


def test_consecutive_downloads_share_one_kept_connection_until_trimmed(http_server):
    policy = local_policy()
    session = build_session(policy, pool_size=4)
    urls = [http_server.route(f"/{n}", Reply(body=b"x" * 1000)) for n in range(3)]
    for url in urls:
        download(session, url, policy)
    assert http_server.connections_accepted == 1
    assert {r.client_port for r in http_server.requests} == {http_server.requests[0].client_port}
    assert http_server.open_connections() == 1
    assert trim_connections(session, "127.0.0.1", keep=1) == 0  # as many open as allowed: kept
    assert trim_connections(session, "127.0.0.2", keep=0) == 0  # another host: nothing of it
    assert trim_connections(session, "127.0.0.1", keep=0) == 1
    _wait_open(http_server, 0)
    download(session, urls[0], policy)  # the pool opens a new one
    assert http_server.connections_accepted == 2
    session.close()


def test_trim_counts_the_connections_in_use_and_closes_only_idle_ones(http_server):
    policy = local_policy()
    session = build_session(policy, pool_size=4)
    release = threading.Event()
    quick = http_server.route("/quick", Reply(body=b"q"))
    held = http_server.route("/held", Reply(body=b"h", hold=release))
    done = threading.Event()

    def slow() -> None:
        download(session, held, policy)
        done.set()

    download(session, quick, policy)  # one idle connection
    thread = threading.Thread(target=slow)
    thread.start()
    try:
        # The held request took the idle connection; a second request opens another.
        wait_until(lambda: http_server.hits("/held") == 1, timeout=10, what="the held request")
        download(session, quick, policy)
        assert http_server.open_connections() == 2
        # One in use, one idle: allowed 1, the idle one goes; the one in use is never touched.
        assert trim_connections(session, "127.0.0.1", keep=1) == 1
        _wait_open(http_server, 1)
        assert not done.is_set()
    finally:
        release.set()
        thread.join(10)
    assert done.is_set()
    assert trim_connections(session, "127.0.0.1", keep=0) == 1
    _wait_open(http_server, 0)
    session.close()


def test_a_redirect_to_another_host_asks_that_host_to_close(http_server):
    policy = local_policy(allow_private=("127.0.0.1", "127.0.0.2"))
    session = build_session(policy, pool_size=4)
    other = LocalHTTPServer(host="127.0.0.2").start()
    try:
        target = other.route("/there", Reply(body=b"t" * 100))
        same = http_server.route("/same", Reply(body=b"s"))
        start = http_server.route("/start", redirect(target))
        back = http_server.route("/back", redirect(other.route("/again", redirect(same))))
        result = download(session, start, policy)
        assert result.content == b"t" * 100
        assert other.requests[-1].headers.get("connection") == "close"
        assert http_server.requests[-1].headers.get("connection") != "close"
        _wait_open(other, 0)
        # Back to the URL's own host: that hop keeps its connection.
        assert download(session, back, policy).content == b"s"
        assert http_server.requests[-1].path == "/same"
        assert http_server.requests[-1].headers.get("connection") != "close"
        _wait_open(other, 0)
        assert http_server.open_connections() == 1
    finally:
        other.stop()
        session.close()


def test_robots_txt_is_fetched_without_keeping_its_connection(http_server):
    policy = local_policy()
    session = build_session(policy, pool_size=4)
    http_server.route("/robots.txt", Reply(body=b"User-agent: *\nDisallow: /private\n", content_type="text/plain"))
    cache = RobotsCache(session, policy)
    assert not cache.allowed(http_server.url("/private/a.png"))
    assert http_server.requests[-1].headers.get("connection") == "close"
    _wait_open(http_server, 0)
    session.close()
