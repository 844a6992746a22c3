"""``DownloadPolicy.defer_throttling``: 429 and 503 come back to the caller as ``Throttled`` (real server)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from urllib3.exceptions import ProtocolError

from media_analysis.engine.errors import HttpStatusError, Throttled
from media_analysis.engine.fetch import build_session, download, probe
from media_analysis.engine.fetch.policy import RETRY_AFTER_LIMIT
from media_analysis.engine.fetch.transfer import retry_after_seconds
from tests.support.http_server import Reply, redirect

from .conftest import local_policy


def deferring(**overrides):
    policy = local_policy(defer_throttling=True, max_retries=2, backoff_factor=0, **overrides)
    return policy, build_session(policy)


@pytest.mark.parametrize("status", [429, 503])
def test_throttling_is_raised_at_once_with_retry_after(http_server, status):
    url = http_server.route("/busy.png", Reply(status, headers={"Retry-After": "7"}), Reply(body=b"late"))
    policy, session = deferring()
    with session, pytest.raises(Throttled) as caught:
        download(session, url, policy)
    failure = caught.value
    assert (failure.status, failure.retry_after) == (status, 7)
    assert isinstance(failure, HttpStatusError)
    # When it finally fails a media, it is recorded as the same answer is after the session's retries.
    assert failure.error_class == "http_status"
    assert failure.retryable
    assert "Retry-After 7 s" in str(failure)
    assert http_server.hits("/busy.png") == 1


def test_retry_after_as_an_http_date(http_server):
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    url = http_server.route("/busy.png", Reply(503, headers={"Retry-After": later}))
    policy, session = deferring()
    with session, pytest.raises(Throttled) as caught:
        download(session, url, policy)
    assert caught.value.retry_after is not None
    assert 100 < caught.value.retry_after <= 120


def test_throttling_without_retry_after(http_server):
    url = http_server.route("/busy.png", Reply(429))
    policy, session = deferring()
    with session, pytest.raises(Throttled) as caught:
        download(session, url, policy)
    assert caught.value.retry_after is None
    assert http_server.hits("/busy.png") == 1


def test_throttling_after_a_redirect(http_server):
    http_server.route("/busy.png", Reply(503, headers={"Retry-After": "3"}))
    url = http_server.route("/moved.png", redirect("/busy.png"))
    policy, session = deferring()
    with session, pytest.raises(Throttled) as caught:
        download(session, url, policy)
    assert caught.value.retry_after == 3
    assert http_server.hits("/busy.png") == 1


def test_probe_raises_throttled_too(http_server):
    url = http_server.route("/clip.mp4", Reply(429, headers={"Retry-After": "2"}))
    policy, session = deferring()
    with session, pytest.raises(Throttled) as caught:
        probe(session, url, policy)
    assert (caught.value.status, caught.value.retry_after) == (429, 2)
    assert http_server.hits("/clip.mp4") == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_other_server_errors_are_still_retried_by_the_session(http_server, status):
    url = http_server.route("/flaky.png", Reply(status), Reply(body=b"fine"))
    policy, session = deferring()
    with session:
        assert download(session, url, policy).content == b"fine"
    assert http_server.hits("/flaky.png") == 2


def test_read_timeouts_are_still_retried_by_the_session(http_server):
    never = threading.Event()  # the first answer never comes: a read timeout, then a retry
    url = http_server.route("/slow.png", Reply(hold=never), Reply(body=b"fine"))
    policy, session = deferring(timeout=0.3)
    with session:
        assert download(session, url, policy).content == b"fine"
    assert http_server.hits("/slow.png") == 2


def test_without_the_flag_the_session_still_retries_throttling(http_server):
    url = http_server.route("/busy.png", Reply(429, headers={"Retry-After": "0"}), Reply(503), Reply(body=b"ok"))
    policy = local_policy(max_retries=3, backoff_factor=0)
    with build_session(policy) as session:
        assert download(session, url, policy).content == b"ok"
    assert http_server.hits("/busy.png") == 3


def test_session_configuration_under_the_flag():
    _policy, session = deferring()
    retry = session.get_adapter("https://example.org/").max_retries
    assert set(retry.status_forcelist) == {500, 502, 504}
    assert not retry.is_retry("GET", 429, has_retry_after=True)
    assert not retry.is_retry("GET", 503, has_retry_after=True)
    assert retry.is_retry("GET", 502)
    # urllib3 hands each retry a new Retry of the same class: the rule holds on later attempts too.
    later = retry.increment("GET", "/x", error=ProtocolError("Connection aborted."))
    assert not later.is_retry("GET", 429, has_retry_after=True)


NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("120", 120.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("86400", RETRY_AFTER_LIMIT),
        ("9" * 5000, RETRY_AFTER_LIMIT),
        ("Fri, 02 Jan 2026 03:05:05 GMT", 60.0),
        ("Friday, 02-Jan-26 03:05:05 GMT", 60.0),
        ("Fri Jan  2 03:05:05 2026", 60.0),
        ("Fri, 02 Jan 2026 03:00:00 GMT", 0.0),
        ("Fri, 02 Jan 2027 03:00:00 GMT", RETRY_AFTER_LIMIT),
        ("Fri, 99 Foo 2026 03:00:00 GMT", None),
    ],
)
def test_retry_after_parsing(header, expected):
    assert retry_after_seconds(header, now=NOW) == expected
