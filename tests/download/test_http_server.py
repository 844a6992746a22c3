"""The test server itself, through plain ``requests``: other suites rely on what it promises."""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.http_server import LocalHTTPServer, Reply, redirect


@pytest.fixture
def client():
    # Straight to 127.0.0.1, whatever proxy the environment names.
    with requests.Session() as session:
        session.trust_env = False
        yield session


def test_status_sequence_then_last_reply_repeats(http_server, client):
    url = http_server.route("/s", Reply(503), Reply(500), Reply(body=b"ok", content_type="text/plain"))
    assert [client.get(url, timeout=5).status_code for _ in range(4)] == [503, 500, 200, 200]
    assert http_server.hits("/s") == 4


def test_unknown_path_is_404_and_requests_are_recorded(http_server, client):
    response = client.get(http_server.url("/nothing?q=1"), headers={"X-Test": "yes"}, timeout=5)
    assert response.status_code == 404
    (recorded,) = http_server.requests
    assert (recorded.method, recorded.path, recorded.headers["x-test"]) == ("GET", "/nothing", "yes")


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_framings(http_server, client, framing):
    body = bytes(range(256)) * 300
    url = http_server.route("/b", Reply(body=body, framing=framing, chunk_size=10_000))
    response = client.get(url, timeout=5)
    assert response.content == body
    assert ("Content-Length" in response.headers) == (framing == "length")
    assert (response.headers.get("Transfer-Encoding") == "chunked") == (framing == "chunked")


def test_range_and_redirect(http_server, client):
    url = http_server.route("/r", Reply(body=b"0123456789", honour_range=True))
    response = client.get(url, headers={"Range": "bytes=2-4"}, timeout=5)
    assert (response.status_code, response.content, response.headers["Content-Range"]) == (206, b"234", "bytes 2-4/10")
    assert client.get(url, headers={"Range": "bytes=-3"}, timeout=5).content == b"789"
    assert client.get(url, headers={"Range": "bytes=20-"}, timeout=5).status_code == 416
    http_server.route("/go", redirect("/r", status=308))
    assert client.get(http_server.url("/go"), timeout=5).content == b"0123456789"


def test_latency_and_stop_with_a_slow_reply_in_flight(client):
    server = LocalHTTPServer().start()
    url = server.route("/late", Reply(body=b"x", latency=0.3))
    started = time.monotonic()
    assert client.get(url, timeout=5).content == b"x"
    assert time.monotonic() - started >= 0.3
    server.route("/never", Reply(body=b"x", latency=60))
    with pytest.raises(requests.exceptions.ReadTimeout):
        client.get(server.url("/never"), timeout=(1, 0.2))
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2


def test_factory_starts_independent_servers(http_server_factory, client):
    first, second = http_server_factory(), http_server_factory()
    assert first.port != second.port
    first.route("/a", Reply(body=b"1"))
    assert client.get(second.url("/a"), timeout=5).status_code == 404
