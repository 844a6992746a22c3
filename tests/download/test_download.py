"""``download`` against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import gzip
import io
import itertools
import socket
import threading
import time
import tracemalloc
import zlib

import pytest
from PIL import Image

from media_analysis.engine.errors import (
    DownloadError,
    DownloadTimeout,
    HttpStatusError,
    InvalidUrl,
    RefusedAddress,
    TooLarge,
    TooManyRedirects,
    UnsupportedScheme,
)
from media_analysis.engine.fetch import build_session, download
from media_analysis.engine.sniff import sniff_mime
from tests.support.http_server import Reply, redirect, unused_port

from .conftest import local_policy


def fetch(url, **policy_overrides):
    policy = local_policy(**policy_overrides)
    with build_session(policy) as session:
        return download(session, url, policy)


def test_downloads_a_real_photo(http_server, session, policy, china_jpeg):
    url = http_server.route("/photos/china.jpg", Reply(body=china_jpeg, content_type="image/jpeg; charset=binary"))
    result = download(session, url, policy)
    assert result.content == china_jpeg
    assert (result.status, result.content_type, result.redirects) == (200, "image/jpeg", 0)
    assert result.url == result.final_url == url
    assert result.elapsed > 0
    assert sniff_mime(result.content) == "image/jpeg"
    assert Image.open(io.BytesIO(result.content)).size == (640, 427)


def test_sends_its_user_agent_and_keeps_no_cookies(http_server):
    url = http_server.route("/a.png", Reply(body=b"png", headers={"Set-Cookie": "session=abc; Path=/"}))
    policy = local_policy(user_agent="medianalyse-test/2.0 (+research)")
    with build_session(policy) as session:
        download(session, url, policy)
        download(session, url, policy)
    first, second = http_server.requests_for("/a.png")
    assert first.headers["user-agent"] == "medianalyse-test/2.0 (+research)"
    assert "cookie" not in second.headers


def test_retries_503_until_success(http_server, session, policy, flower_png):
    url = http_server.route("/f.png", Reply(503), Reply(503), Reply(body=flower_png, content_type="image/png"))
    result = download(session, url, policy)
    assert result.content == flower_png
    assert http_server.hits("/f.png") == 3


def test_waits_as_retry_after_asks_on_429(http_server):
    url = http_server.route("/busy.png", Reply(429, headers={"Retry-After": "1"}), Reply(body=b"ok"))
    started = time.monotonic()
    result = fetch(url, backoff_factor=0)
    assert time.monotonic() - started >= 1.0
    assert result.elapsed >= 1.0
    first, second = http_server.requests_for("/busy.png")
    assert second.at - first.at >= 0.95
    assert http_server.hits("/busy.png") == 2


def test_gives_up_after_the_retry_limit(http_server):
    url = http_server.route("/down.png", Reply(503, body=b"maintenance", content_type="text/plain"))
    with pytest.raises(HttpStatusError) as caught:
        fetch(url, max_retries=2)
    assert caught.value.status == 503
    assert "after 3 attempts" in str(caught.value)
    assert caught.value.retryable
    assert http_server.hits("/down.png") == 3


def test_not_found_is_not_retried(http_server):
    url = http_server.route("/gone.png", Reply(404, body=b"no", content_type="text/html"))
    with pytest.raises(HttpStatusError) as caught:
        fetch(url)
    assert caught.value.status == 404
    assert caught.value.mime_type == "text/html"
    assert http_server.hits("/gone.png") == 1


def test_a_large_retried_error_body_is_not_read(http_server):
    # 256 MiB of error page, were it read: closing the connection instead keeps the retry cheap.
    endless = Reply(503, framing="chunked", stream=lambda: itertools.repeat(bytes(64 * 1024), 4096))
    url = http_server.route("/flaky.png", endless, Reply(body=b"fine"))
    tracemalloc.start()
    try:
        started = time.monotonic()
        result = fetch(url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.content == b"fine"
    assert time.monotonic() - started < 3
    assert peak < 8 * 1024 * 1024


def test_content_length_over_the_cap_is_refused_before_reading(http_server):
    body = bytes(2_000_000)
    # Trickled slowly: reading it would take 10 s.
    url = http_server.route("/huge.jpg", Reply(body=body, chunk_size=100_000, chunk_delay=0.5))
    started = time.monotonic()
    with pytest.raises(TooLarge) as caught:
        fetch(url, max_bytes=100_000)
    assert time.monotonic() - started < 1.0
    assert caught.value.size == 2_000_000
    assert caught.value.error_class == "too_large"
    assert not caught.value.retryable


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_body_without_length_stops_at_the_cap(http_server, framing):
    # 256 MiB offered; memory must stay near the 1 MiB cap.
    reply = Reply(framing=framing, stream=lambda: itertools.repeat(bytes(64 * 1024), 4096))
    url = http_server.route("/stream.bin", reply)
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge):
            fetch(url, max_bytes=1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
def test_body_exactly_at_the_cap_is_accepted(http_server, framing):
    url = http_server.route("/exact.bin", Reply(body=b"x" * 50_000, framing=framing))
    assert len(fetch(url, max_bytes=50_000).content) == 50_000


def test_gzip_bomb_is_stopped_by_counting_decoded_bytes(http_server):
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    bomb = b"".join(compressor.compress(bytes(1 << 20)) for _ in range(64)) + compressor.flush()
    assert len(bomb) < 100_000  # 64 MiB of zeros
    url = http_server.route(
        "/bomb.svg", Reply(body=bomb, content_type="image/svg+xml", headers={"Content-Encoding": "gzip"})
    )
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge):
            fetch(url, max_bytes=1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


def raw_deflate(data: bytes) -> bytes:
    # "deflate" without its zlib wrapper, as some servers send it.
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", raw_deflate),
    ],
)
def test_compressed_bodies_are_decoded(http_server, encoding, encode):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>' * 20
    url = http_server.route("/logo.svg", Reply(body=encode(svg), headers={"Content-Encoding": encoding}))
    result = fetch(url)
    assert result.content == svg
    assert sniff_mime(result.content) == "image/svg+xml"
    assert "gzip" in http_server.requests_for("/logo.svg")[0].headers["accept-encoding"]


def test_unknown_content_encoding_is_an_error(http_server):
    url = http_server.route("/x.png", Reply(body=b"????", headers={"Content-Encoding": "br"}))
    with pytest.raises(DownloadError, match="Content-Encoding"):
        fetch(url)


def test_slow_server_times_out_after_retries(http_server):
    url = http_server.route("/slow.png", Reply(body=b"late", latency=3.0))
    started = time.monotonic()
    with pytest.raises(DownloadTimeout) as caught:
        fetch(url, timeout=0.2, max_retries=1)
    assert time.monotonic() - started < 1.5
    assert "after 2 attempts" in str(caught.value)
    assert caught.value.error_class == "timeout"
    assert http_server.hits("/slow.png") == 2


def test_trickling_body_is_cut_by_the_deadline(http_server):
    # One byte every 50 ms never trips the read timeout; the deadline ends it.
    url = http_server.route("/drip.png", Reply(body=bytes(400), chunk_size=1, chunk_delay=0.05))
    started = time.monotonic()
    with pytest.raises(DownloadTimeout, match="deadline"):
        fetch(url, timeout=1.0, deadline=0.5)
    assert time.monotonic() - started < 1.5


def test_connection_refused_is_a_network_error():
    url = f"http://127.0.0.1:{unused_port()}/a.png"
    with pytest.raises(DownloadError) as caught:
        fetch(url, max_retries=1)
    assert caught.value.error_class == "network"
    assert "after 2 attempts" in str(caught.value)


def test_redirects_are_followed_and_counted(http_server, flower_png):
    http_server.route("/old.png", redirect("/older.png", status=301))
    http_server.route("/older.png", redirect(http_server.url("/img/new.png#frag"), status=307))
    final = http_server.route("/img/new.png", Reply(body=flower_png, content_type="image/png"))
    result = fetch(http_server.url("/old.png"))
    assert (result.final_url, result.redirects, result.content) == (final, 2, flower_png)


def test_redirect_chain_over_the_cap(http_server):
    for hop in range(10):
        http_server.route(f"/hop{hop}", redirect(f"/hop{hop + 1}"))
    with pytest.raises(TooManyRedirects) as caught:
        fetch(http_server.url("/hop0"), max_redirects=3)
    assert caught.value.error_class == "too_many_redirects"
    assert http_server.hits() == 4


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/admin.png",
        "http://[::1]/a.png",
        "http://0.0.0.0/a.png",
        "http://[::ffff:192.168.0.1]/a.png",
    ],
)
def test_redirect_to_a_refused_address(http_server, target):
    url = http_server.route("/bounce.png", redirect(target))
    with pytest.raises(RefusedAddress) as caught:
        fetch(url)
    assert caught.value.error_class == "refused_address"
    assert not caught.value.retryable
    assert http_server.hits() == 1


@pytest.mark.parametrize("location", ["http://[::1/a.png", "http://127.0.0.1:99999/a.png", "//[zz]/a.png"])
def test_redirect_to_an_invalid_url(http_server, location):
    url = http_server.route("/bounce.png", redirect(location))
    with pytest.raises(InvalidUrl) as caught:
        fetch(url)
    assert caught.value.error_class == "invalid_url"
    assert http_server.hits() == 1


@pytest.mark.parametrize("url", ["http://[::1/a.png", "http://127.0.0.1:0/a.png", "http:///a.png"])
def test_an_invalid_url_is_refused_before_any_request(url):
    with pytest.raises(InvalidUrl):
        fetch(url)


def test_redirect_to_another_scheme(http_server):
    url = http_server.route("/ftp.png", redirect("ftp://127.0.0.1/a.png"))
    with pytest.raises(UnsupportedScheme):
        fetch(url)


def test_loopback_is_refused_unless_allowed(http_server):
    url = http_server.route("/a.png", Reply(body=b"x"))
    for refused in (url, url.replace("127.0.0.1", "localhost")):
        with pytest.raises(RefusedAddress):
            fetch(refused, allow_private=())
    assert http_server.hits() == 0
    assert fetch(url, allow_private=("127.0.0.0/8",)).content == b"x"


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/a.png", "file:///etc/passwd", "data:image/png;base64,iVBORw0KGgo="])
def test_unsupported_scheme(url):
    with pytest.raises(UnsupportedScheme):
        fetch(url)


def test_dns_rebinding_is_caught_when_connecting(http_server, monkeypatch):
    """The name is public when checked, private when connecting: the connection refuses it."""
    http_server.route("/a.png", Reply(body=b"secret"))
    lookups = []
    real = socket.getaddrinfo

    def rebinding(host, port, family=0, type=0, proto=0, flags=0):
        if host == "rebind.test":
            lookups.append(host)
            address = "93.184.216.34" if len(lookups) == 1 else "127.0.0.1"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with pytest.raises(RefusedAddress, match=r"127\.0\.0\.1"):
        fetch(f"http://rebind.test:{http_server.port}/a.png", allow_private=())
    assert len(lookups) == 2
    assert http_server.hits() == 0


def test_html_served_where_an_image_was_expected(http_server):
    page = b"<!DOCTYPE html>\n<html><head><title>Login</title></head><body>Please sign in</body></html>"
    honest = http_server.route("/photo.jpg", Reply(body=page, content_type="text/html; charset=utf-8"))
    lying = http_server.route("/lying.jpg", Reply(body=page, content_type="image/jpeg"))
    result = fetch(honest)
    assert (result.content_type, sniff_mime(result.content)) == ("text/html", "text/html")
    result = fetch(lying)
    assert (result.content_type, sniff_mime(result.content)) == ("image/jpeg", "text/html")


def test_one_session_serves_many_threads(http_server) -> None:
    payloads = {}
    for index in range(40):
        buffer = io.BytesIO()
        Image.new("RGB", (64, 48), (index * 6, 255 - index * 6, 90)).save(buffer, format="PNG")
        payloads[f"/img{index}.png"] = buffer.getvalue()
        http_server.route(f"/img{index}.png", Reply(body=buffer.getvalue(), content_type="image/png"))
    policy = local_policy()
    session = build_session(policy, pool_size=8)
    results: dict[str, bytes] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(paths):
        try:
            for path in paths:
                content = download(session, http_server.url(path), policy).content
                with lock:
                    results[path] = content
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    paths = sorted(payloads)
    threads = [threading.Thread(target=worker, args=(paths[i::8],)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    session.close()
    assert not errors
    assert results == payloads


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_truncate_returns_the_first_bytes_of_a_body_over_the_cap(http_server, framing):
    body = bytes(range(256)) * 100
    url = http_server.route("/long.txt", Reply(body=body, framing=framing))
    policy = local_policy(max_bytes=1000)
    with build_session(policy) as session:
        result = download(session, url, policy, truncate=True)
        assert (result.content, result.truncated) == (body[:1000], True)
        short = download(session, http_server.route("/short.txt", Reply(body=body[:10])), policy, truncate=True)
        assert (short.content, short.truncated) == (body[:10], False)
