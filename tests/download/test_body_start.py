"""A response's body must start soon after its headers (``body_start_timeout``); later silences get the read timeout."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from media_analysis.engine.errors import DownloadTimeout
from media_analysis.engine.fetch import DownloadPolicy, build_session, download, probe
from tests.support.http_server import Reply

from .conftest import local_policy

# Far longer than any wait these tests expect: a download ending early ended on the body-start limit.
READ_TIMEOUT = 30.0


@pytest.mark.parametrize("fetch", [download, probe], ids=["download", "probe"])
def test_headers_then_silence_fail_at_the_body_start_limit_not_the_read_timeout(http_server, fetch):
    release = threading.Event()

    def stalled_body():
        release.wait(READ_TIMEOUT * 2)
        yield b"too late"

    url = http_server.route(
        "/stalled.png",
        Reply(body=b"", headers={"Content-Length": "1000"}, framing="close", stream=stalled_body),
    )
    policy = local_policy(timeout=READ_TIMEOUT, body_start_timeout=0.5, deadline=READ_TIMEOUT * 2)
    started = time.monotonic()
    try:
        with build_session(policy) as session, pytest.raises(DownloadTimeout) as caught:
            fetch(session, url, policy)
    finally:
        release.set()
    assert time.monotonic() - started < READ_TIMEOUT / 2
    assert caught.value.error_class == "timeout"
    assert "no body" in str(caught.value)
    assert http_server.hits("/stalled.png") == 1


def test_silences_after_the_first_bytes_get_the_whole_read_timeout(http_server):
    # Three pieces a second apart, against a body-start limit of 0.3 s.
    url = http_server.route("/slow-body.png", Reply(body=b"abc", chunk_size=1, chunk_delay=1.0))
    policy = local_policy(timeout=READ_TIMEOUT, body_start_timeout=0.3, deadline=READ_TIMEOUT * 2)
    with build_session(policy) as session:
        assert download(session, url, policy).content == b"abc"


def test_headers_late_then_the_body_at_once_are_not_cut(http_server):
    # The limit starts with the headers: a slow first answer is the read timeout's to judge.
    url = http_server.route("/late.png", Reply(body=b"late", latency=1.0))
    policy = local_policy(timeout=READ_TIMEOUT, body_start_timeout=0.3, deadline=READ_TIMEOUT * 2)
    with build_session(policy) as session:
        assert download(session, url, policy).content == b"late"


def test_without_a_body_start_limit_the_read_timeout_applies(http_server):
    release = threading.Event()

    def stalled_body():
        release.wait(READ_TIMEOUT * 2)
        yield b"too late"

    url = http_server.route(
        "/stalled.png", Reply(body=b"", headers={"Content-Length": "1000"}, framing="close", stream=stalled_body)
    )
    policy = local_policy(timeout=1.0, body_start_timeout=0.0, deadline=READ_TIMEOUT)
    try:
        with build_session(policy) as session, pytest.raises(DownloadTimeout) as caught:
            download(session, url, policy)
    finally:
        release.set()
    assert "read timed out in the body" in str(caught.value)


def test_the_limit_comes_from_its_setting():
    from_settings = DownloadPolicy.from_settings
    assert from_settings(SimpleNamespace(MEDIA_ANALYSIS_BODY_START_TIMEOUT=2.5)).body_start_timeout == 2.5
    assert from_settings(SimpleNamespace()).body_start_timeout == 0.0
