"""The download deadline bounds a whole download: connecting, headers, body, retries and their waits."""

from __future__ import annotations

import threading
import time

import pytest

from media_analysis.engine.errors import DownloadTimeout
from media_analysis.engine.fetch import build_session, download, probe
from tests.support.http_server import Reply

from .conftest import local_policy

DEADLINE = 2.0
# Scheduling slack on a busy machine: the download must end within DEADLINE + SLACK.
SLACK = 0.75


def _fails_on_time(fetch, url, **overrides) -> tuple[DownloadTimeout, float]:
    policy = local_policy(deadline=DEADLINE, **overrides)
    started = time.monotonic()
    with build_session(policy) as session, pytest.raises(DownloadTimeout) as caught:
        fetch(session, url, policy)
    elapsed = time.monotonic() - started
    assert caught.value.error_class == "timeout"
    assert elapsed < DEADLINE + SLACK, f"took {elapsed:.2f} s against a {DEADLINE} s deadline"
    return caught.value, elapsed


@pytest.mark.parametrize("fetch", [download, probe], ids=["download", "probe"])
def test_headers_dripped_a_byte_at_a_time_are_cut_at_the_deadline(http_server, fetch):
    # Each byte comes well within the read timeout, so only the deadline can end this;
    # the whole header block would take about 40 s.
    padding = {"X-Padding": "p" * 150}
    url = http_server.route("/drip-headers.png", Reply(body=b"x", headers=padding, header_delay=0.2))
    _failure, elapsed = _fails_on_time(fetch, url, timeout=1.0)
    assert elapsed >= DEADLINE - 0.1
    assert http_server.hits("/drip-headers.png") == 1  # no attempt is started once the deadline has passed


def test_a_read_started_just_before_the_deadline_ends_at_the_deadline(http_server):
    # One byte every 1.4 s within a 3 s read timeout: the second read would end at 2.8 s.
    url = http_server.route("/drip-body.png", Reply(body=bytes(10), chunk_size=1, chunk_delay=1.4))
    _failure, elapsed = _fails_on_time(download, url, timeout=3.0)
    assert elapsed < DEADLINE + 0.5


def test_a_retry_after_longer_than_the_time_left_fails_at_once(http_server):
    url = http_server.route(
        "/busy.png", Reply(429, headers={"Retry-After": "5"}), Reply(body=b"late", content_type="image/png")
    )
    failure, elapsed = _fails_on_time(download, url, backoff_factor=0, backoff_max=30.0)
    assert elapsed < 1.0  # the wait is not started
    assert "deadline" in str(failure)
    assert http_server.hits("/busy.png") == 1


def test_a_retry_after_within_the_time_left_is_honoured(http_server):
    url = http_server.route("/busy.png", Reply(503, headers={"Retry-After": "1"}), Reply(body=b"ok"))
    policy = local_policy(deadline=DEADLINE, backoff_factor=0)
    with build_session(policy) as session:
        result = download(session, url, policy)
    assert result.content == b"ok"
    assert 1.0 <= result.elapsed < DEADLINE


@pytest.mark.parametrize(
    ("reply", "overrides"),
    [
        # Backoff waits of about 0, 0.6, 1.2, 2.4 s...: the wait that would cross the deadline is not started.
        (Reply(503, body=b"busy"), {"max_retries": 10, "backoff_factor": 0.3}),
        # Every attempt ends with a 0.5 s read timeout: four fit in the deadline, not eleven.
        (Reply(body=b"late", latency=5.0), {"max_retries": 10, "timeout": 0.5, "backoff_factor": 0}),
    ],
    ids=["backoff", "read-timeouts"],
)
def test_retries_stop_when_the_deadline_is_spent(http_server, reply, overrides):
    url = http_server.route("/flaky.png", reply)
    _fails_on_time(download, url, **overrides)
    assert 2 <= http_server.hits("/flaky.png") < 11


def test_concurrent_downloads_keep_their_own_deadlines(http_server):
    # A context variable per thread: a short deadline in one thread never cuts another's download.
    slow = http_server.route("/slow.png", Reply(body=b"slow", latency=1.0))
    drip = http_server.route("/drip.png", Reply(body=b"x", header_delay=0.2, headers={"X-Padding": "p" * 150}))
    long_policy = local_policy(deadline=10.0)
    short_policy = local_policy(deadline=0.5)
    outcomes = {}
    with build_session(long_policy) as session:

        def run(name, url, policy):
            try:
                outcomes[name] = download(session, url, policy).content
            except DownloadTimeout as exc:
                outcomes[name] = exc

        threads = [
            threading.Thread(target=run, args=("slow", slow, long_policy)),
            threading.Thread(target=run, args=("drip", drip, short_policy)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=15)
    assert outcomes["slow"] == b"slow"
    assert isinstance(outcomes["drip"], DownloadTimeout)
