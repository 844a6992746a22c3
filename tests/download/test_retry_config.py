"""The session's retry configuration, checked with ``responses`` (no socket: the adapter's send is replaced)."""

from __future__ import annotations

import pytest
import responses
from urllib3.exceptions import ProtocolError
from urllib3.util.retry import Retry

from media_analysis.engine.errors import HttpStatusError
from media_analysis.engine.fetch import DownloadPolicy, build_session, download
from media_analysis.engine.fetch.policy import RETRY_STATUSES

from .conftest import local_policy

URL = "http://127.0.0.1/picture.png"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(32)


@pytest.fixture
def mocked():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def test_adapter_configuration():
    policy = DownloadPolicy(max_retries=4, backoff_factor=0.5, backoff_max=20.0, user_agent="medianalyse-test/1")
    session = build_session(policy, pool_size=12)
    adapter = session.get_adapter("https://example.org/")
    retry = adapter.max_retries
    assert isinstance(retry, Retry)
    assert (retry.total, retry.connect, retry.read, retry.status) == (4, 4, 4, 4)
    assert set(retry.status_forcelist) == {429, 500, 502, 503, 504}
    assert "GET" in retry.allowed_methods
    assert retry.backoff_factor == 0.5
    assert retry.backoff_jitter > 0
    assert retry.backoff_max == 20.0
    assert retry.respect_retry_after_header
    assert retry.raise_on_status is False  # the last response comes back so its status can be reported
    assert adapter.poolmanager.connection_pool_kw["maxsize"] == 12
    assert session.get_adapter("http://example.org/") is adapter
    assert session.headers["User-Agent"] == "medianalyse-test/1"
    assert session.trust_env is False


def test_backoff_grows_exponentially_with_bounded_jitter_and_a_cap():
    retry = build_session(DownloadPolicy(max_retries=10, backoff_factor=0.5, backoff_max=3.0)).get_adapter(URL)
    retry = retry.max_retries
    waits = []
    for _ in range(6):
        retry = retry.increment("GET", "/x", error=ProtocolError("Connection aborted."))
        waits.append(retry.get_backoff_time())
    assert waits[0] == 0  # the first retry is immediate
    for attempt, wait in enumerate(waits[1:3], start=2):
        base = 0.5 * 2 ** (attempt - 1)
        assert base <= wait <= base + 0.5
    assert waits[3:] == [3.0, 3.0, 3.0]


def test_retry_after_is_capped():
    retry = build_session(DownloadPolicy(backoff_max=30.0)).get_adapter(URL).max_retries
    assert retry.parse_retry_after("5") == 5
    assert retry.parse_retry_after("86400") == 30


@pytest.mark.parametrize("status", RETRY_STATUSES)
def test_transient_statuses_are_retried(mocked, status):
    mocked.add(responses.GET, URL, status=status)
    mocked.add(responses.GET, URL, status=status)
    mocked.add(responses.GET, URL, body=PNG, content_type="image/png")
    policy = local_policy(max_retries=3, backoff_factor=0)
    result = download(build_session(policy), URL, policy)
    assert result.status == 200
    assert result.content == PNG
    assert len(mocked.calls) == 3


def test_gives_up_after_max_retries(mocked):
    mocked.add(responses.GET, URL, status=503)
    policy = local_policy(max_retries=2, backoff_factor=0)
    with pytest.raises(HttpStatusError) as caught:
        download(build_session(policy), URL, policy)
    assert caught.value.status == 503
    assert len(mocked.calls) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 501])
def test_other_errors_are_not_retried(mocked, status):
    mocked.add(responses.GET, URL, status=status)
    policy = local_policy(max_retries=3, backoff_factor=0)
    with pytest.raises(HttpStatusError) as caught:
        download(build_session(policy), URL, policy)
    assert caught.value.status == status
    assert caught.value.error_class == "http_status"
    assert len(mocked.calls) == 1


def test_redirects_are_not_followed_by_the_adapter(mocked):
    mocked.add(responses.GET, URL, status=301, headers={"Location": "/moved.png"})
    mocked.add(responses.GET, "http://127.0.0.1/moved.png", body=PNG, content_type="image/png")
    policy = local_policy()
    result = download(build_session(policy), URL, policy)
    assert (result.final_url, result.redirects, result.content) == ("http://127.0.0.1/moved.png", 1, PNG)
    assert [call.request.url for call in mocked.calls] == [URL, "http://127.0.0.1/moved.png"]
