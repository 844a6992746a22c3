"""robots.txt: ``RobotsCache`` and ``check_robots`` against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
import time

import pytest

from media_analysis.engine.errors import ERROR_CLASSES, RobotsDisallowed
from media_analysis.engine.fetch import build_session
from media_analysis.engine.fetch.robots import ERROR_TTL, RobotsCache, check_robots, parse_robots
from tests.support.http_server import LocalHTTPServer, Reply, redirect

from .conftest import local_policy

ROBOTS = b"""# a comment
User-agent: otherbot
Disallow: /

User-agent: *
Disallow: /private/
Allow: /private/public/
Disallow: /tmp
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def text(body: bytes) -> Reply:
    return Reply(body=body, content_type="text/plain")


@pytest.fixture
def policy():
    return local_policy(user_agent="medianalyse-test/1.0 (+https://example.org)", max_retries=1, backoff_factor=0)


@pytest.fixture
def session(policy):
    with build_session(policy) as session:
        yield session


def test_allowed_and_disallowed_by_path(http_server, session, policy):
    http_server.route("/robots.txt", text(ROBOTS))
    cache = RobotsCache(session, policy)
    assert cache.allowed(http_server.url("/images/a.png"))
    assert not cache.allowed(http_server.url("/private/a.png"))
    assert cache.allowed(http_server.url("/private/public/a.png"))  # the longer rule wins
    assert not cache.allowed(http_server.url("/tmp/a.png"))
    assert not cache.allowed(http_server.url("/tmpfile.png"))
    assert cache.allowed(http_server.url("/images/tmp.png?x=/tmp"))
    assert http_server.hits("/robots.txt") == 1
    request = http_server.requests_for("/robots.txt")[0]
    assert request.headers["user-agent"] == policy.user_agent


def test_the_longest_rule_wins_whatever_its_place():
    parser = parse_robots(b"User-agent: *\nAllow: /a/b/\nDisallow: /a/\nDisallow: /c/d/\nAllow: /c/\n")
    assert parser.can_fetch("medianalyse", "http://x.example/a/b/1.png")
    assert not parser.can_fetch("medianalyse", "http://x.example/a/1.png")
    assert parser.can_fetch("medianalyse", "http://x.example/c/1.png")
    assert not parser.can_fetch("medianalyse", "http://x.example/c/d/1.png")


def test_disallowed_by_user_agent(http_server, session, policy):
    http_server.route(
        "/robots.txt",
        text(
            b"User-agent: otherbot\nDisallow:\n\nUser-agent: MediAnalyse-Test\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
        ),
    )
    mine = RobotsCache(session, policy)
    assert not mine.allowed(http_server.url("/a.png"))
    other = RobotsCache(session, local_policy(user_agent="somebot/2.0"))
    assert other.allowed(http_server.url("/a.png"))


def test_check_robots_raises_a_failure_not_retried(http_server, session, policy):
    http_server.route("/robots.txt", text(ROBOTS))
    cache = RobotsCache(session, policy)
    check_robots(cache, http_server.url("/a.png"))
    check_robots(None, http_server.url("/private/a.png"))  # robots.txt not respected
    with pytest.raises(RobotsDisallowed) as caught:
        check_robots(cache, http_server.url("/private/a.png"))
    failure = caught.value
    assert failure.error_class == "robots_disallowed"
    assert failure.error_class in ERROR_CLASSES
    assert not failure.retryable
    assert str(failure).startswith(f"{http_server.base_url}/robots.txt disallows ")
    assert "medianalyse-test" in str(failure)


def test_sites_are_told_apart_by_scheme_host_and_port(http_server_factory, session, policy):
    closed, open_ = http_server_factory(), http_server_factory()
    closed.route("/robots.txt", text(b"User-agent: *\nDisallow: /\n"))
    cache = RobotsCache(session, policy)
    assert not cache.allowed(closed.url("/a.png"))
    assert cache.allowed(open_.url("/a.png"))
    assert cache.fetches == 2


def test_not_found_allows_everything_and_is_kept(http_server, session, policy):
    clock = FakeClock()
    cache = RobotsCache(session, policy, ttl=600, clock=clock)
    assert cache.allowed(http_server.url("/a.png"))
    clock.now += 599
    assert cache.allowed(http_server.url("/private/a.png"))
    assert http_server.hits("/robots.txt") == 1
    clock.now += 2
    assert cache.allowed(http_server.url("/a.png"))
    assert http_server.hits("/robots.txt") == 2


def test_rules_are_kept_for_the_ttl(http_server, session, policy):
    clock = FakeClock()
    http_server.route("/robots.txt", text(b"User-agent: *\nDisallow: /a\n"), text(b"User-agent: *\nDisallow: /b\n"))
    cache = RobotsCache(session, policy, ttl=100, clock=clock)
    assert not cache.allowed(http_server.url("/a.png"))
    clock.now += 99
    assert not cache.allowed(http_server.url("/a.png"))
    clock.now += 2
    assert cache.allowed(http_server.url("/a.png"))
    assert not cache.allowed(http_server.url("/b.png"))
    assert http_server.hits("/robots.txt") == 2


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_error_allows_everything_for_a_short_while(http_server, policy, status):
    clock = FakeClock()
    http_server.route("/robots.txt", Reply(status), text(b"User-agent: *\nDisallow: /\n"))
    once = local_policy(max_retries=0, user_agent=policy.user_agent)
    with build_session(once) as session:
        cache = RobotsCache(session, once, clock=clock)
        assert cache.allowed(http_server.url("/a.png"))
        assert http_server.hits("/robots.txt") == 1
        clock.now += ERROR_TTL - 1
        assert cache.allowed(http_server.url("/a.png"))
        assert http_server.hits("/robots.txt") == 1
        clock.now += 2
        assert not cache.allowed(http_server.url("/a.png"))
        assert http_server.hits("/robots.txt") == 2


def test_unreachable_site_allows_everything_for_a_short_while(policy):
    clock = FakeClock()
    with LocalHTTPServer() as server:
        url = server.url("/a.png")
    # The server is gone: connections are refused.
    fast = local_policy(max_retries=0, user_agent=policy.user_agent)
    with build_session(fast) as session:
        cache = RobotsCache(session, fast, clock=clock)
        assert cache.allowed(url)
        assert cache._rules_of(url.rsplit("/", 1)[0]).expires_at == clock.now + ERROR_TTL


def test_redirects_are_followed(http_server, session, policy):
    http_server.route("/robots.txt", redirect("/hop1", 301))
    http_server.route("/hop1", redirect("/hop2"))
    http_server.route("/hop2", text(b"User-agent: *\nDisallow: /private\n"))
    cache = RobotsCache(session, policy)
    assert not cache.allowed(http_server.url("/private/a.png"))
    assert cache.allowed(http_server.url("/a.png"))


def test_too_many_redirects_allow_everything(http_server, session, policy):
    for hop in range(7):
        http_server.route("/robots.txt" if hop == 0 else f"/hop{hop}", redirect(f"/hop{hop + 1}"))
    http_server.route("/hop7", text(b"User-agent: *\nDisallow: /\n"))
    cache = RobotsCache(session, local_policy(max_redirects=20, user_agent=policy.user_agent))
    assert cache.allowed(http_server.url("/a.png"))
    assert http_server.hits("/hop6") == 0  # five redirects followed, no more


def test_redirect_to_a_private_address_is_refused(http_server, session, policy):
    # 127.0.0.2 is not in the policy's allow list: a private address the downloader may not reach.
    with LocalHTTPServer(host="127.0.0.2") as private:
        private.route("/robots.txt", text(b"User-agent: *\nDisallow: /\n"))
        http_server.route("/robots.txt", redirect(private.url("/robots.txt")))
        cache = RobotsCache(session, policy)
        assert cache.allowed(http_server.url("/a.png"))
        assert private.hits() == 0


def test_huge_robots_file_is_read_up_to_the_cap(http_server, session, policy):
    head = b"User-agent: *\nDisallow: /early\n"
    filler = b"# " + b"x" * 98 + b"\n"
    tail = b"Disallow: /late\n"

    def body():
        yield head
        for _ in range(40_000):  # 4 MB of comments
            yield filler
        yield tail

    http_server.route("/robots.txt", Reply(framing="chunked", stream=body, content_type="text/plain"))
    cache = RobotsCache(session, policy, max_bytes=64 * 1024)
    assert not cache.allowed(http_server.url("/early/a.png"))
    assert cache.allowed(http_server.url("/late/a.png"))  # past the cap: not read


def test_huge_robots_file_with_a_length_is_read_up_to_the_cap(http_server, session, policy):
    body = b"User-agent: *\nDisallow: /early\n" + (b"# " + b"x" * 98 + b"\n") * 20_000 + b"Disallow: /late\n"
    http_server.route("/robots.txt", text(body))
    cache = RobotsCache(session, policy, max_bytes=64 * 1024)
    assert not cache.allowed(http_server.url("/early/a.png"))
    assert cache.allowed(http_server.url("/late/a.png"))


def test_a_rule_cut_by_the_cap_is_dropped(http_server, session, policy):
    head = b"User-agent: *\nDisallow: /early\n"
    cut = b"Disallow: /" + b"x" * 200 + b"\n"  # the cap falls inside: "Disallow: /xx" must not refuse all
    http_server.route("/robots.txt", text(head + cut))
    cache = RobotsCache(session, policy, max_bytes=len(head) + 20)
    assert not cache.allowed(http_server.url("/early/a.png"))
    assert cache.allowed(http_server.url("/other.png"))
    assert cache.allowed(http_server.url("/xx.png"))


def test_many_threads_share_one_fetch(http_server, session, policy):
    answer = threading.Event()
    http_server.route("/robots.txt", Reply(body=ROBOTS, content_type="text/plain", hold=answer))
    cache = RobotsCache(lambda: session, policy)
    threads = 24
    start = threading.Barrier(threads + 1)
    results = []
    lock = threading.Lock()

    def ask(index: int) -> None:
        start.wait()
        path = "/private/a.png" if index % 2 else "/a.png"
        allowed = cache.allowed(http_server.url(path))
        with lock:
            results.append(allowed == (index % 2 == 0))

    workers = [threading.Thread(target=ask, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    ends = time.monotonic() + 10
    while http_server.hits("/robots.txt") == 0 and time.monotonic() < ends:
        time.sleep(0.01)
    answer.set()
    for worker in workers:
        worker.join(timeout=30)
    assert results == [True] * threads
    assert http_server.hits("/robots.txt") == 1
    assert cache.fetches == 1


@pytest.mark.parametrize("url", ["ftp://example.org/a.png", "/relative.png", "http:///a.png", "http://[::1/a"])
def test_urls_without_a_site_are_left_to_the_download(session, policy, url):
    cache = RobotsCache(session, policy)
    assert cache.allowed(url)
    assert cache.fetches == 0
