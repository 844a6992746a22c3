"""Conditional requests: validators kept from a download, sent back, and a 304 told apart from a failure."""

from __future__ import annotations

import pytest

from media_analysis.engine.errors import HttpStatusError
from media_analysis.engine.fetch import Downloaded, NotModified, Probed, Validators, download, probe
from media_analysis.engine.fetch.policy import MAX_VALIDATOR_LENGTH
from tests.support import av_samples as av
from tests.support.http_server import Reply, redirect

LAST_MODIFIED = "Tue, 01 Dec 2026 10:00:00 GMT"


def not_modified(**headers: str) -> Reply:
    return Reply(304, content_type=None, headers=headers)


def test_a_download_exposes_the_etag_and_last_modified(http_server, session, policy):
    url = http_server.route("/a.png", Reply(body=b"png", headers={"ETag": '"v1"', "Last-Modified": LAST_MODIFIED}))
    result = download(session, url, policy)
    assert result.validators == Validators('"v1"', LAST_MODIFIED)
    assert "if-none-match" not in http_server.requests_for("/a.png")[0].headers


def test_weak_etags_are_kept_verbatim_and_missing_headers_are_none(http_server, session, policy):
    weak = http_server.route("/weak.png", Reply(body=b"png", headers={"ETag": 'W/"5f-abc"'}))
    bare = http_server.route("/bare.png", Reply(body=b"png"))
    assert download(session, weak, policy).validators == Validators('W/"5f-abc"', None)
    assert download(session, bare, policy).validators == Validators(None, None)
    assert not Validators()


def test_control_characters_are_stripped_and_overlong_values_dropped():
    assert Validators.from_headers({"ETag": ' "a\x01b\x7fc\x85" '}) == Validators('"abc"', None)
    long_tag = '"' + "x" * MAX_VALIDATOR_LENGTH + '"'
    assert Validators.from_headers({"ETag": long_tag, "Last-Modified": "\x00\x1f"}) == Validators(None, None)
    fits = '"' + "x" * (MAX_VALIDATOR_LENGTH - 2) + '"'
    assert Validators.from_headers({"ETag": fits}).etag == fits


def test_an_etag_is_sent_as_if_none_match_and_a_304_is_not_modified(http_server, session, policy):
    url = http_server.route("/a.png", not_modified(ETag='"v2"'))
    result = download(session, url, policy, Validators('"v1"', LAST_MODIFIED))
    assert isinstance(result, NotModified)
    assert (result.status, result.final_url, result.redirects) == (304, url, 0)
    assert result.validators == Validators('"v2"', None)
    sent = http_server.requests_for("/a.png")[0].headers
    assert (sent["if-none-match"], sent["if-modified-since"]) == ('"v1"', LAST_MODIFIED)


def test_last_modified_alone_is_sent_as_if_modified_since(http_server, session, policy):
    url = http_server.route("/a.png", not_modified())
    result = download(session, url, policy, Validators(None, LAST_MODIFIED))
    assert isinstance(result, NotModified)
    assert result.validators == Validators(None, None)
    sent = http_server.requests_for("/a.png")[0].headers
    assert sent["if-modified-since"] == LAST_MODIFIED
    assert "if-none-match" not in sent


def test_a_changed_file_is_downloaded_with_its_new_validators(http_server, session, policy):
    url = http_server.route("/a.png", Reply(body=b"new bytes", headers={"ETag": '"v2"'}))
    result = download(session, url, policy, Validators('"v1"', None))
    assert isinstance(result, Downloaded)
    assert (result.content, result.validators) == (b"new bytes", Validators('"v2"', None))


def test_a_304_to_an_unconditional_request_is_a_status_failure(http_server, session, policy):
    url = http_server.route("/odd.png", not_modified(ETag='"v1"'))
    with pytest.raises(HttpStatusError) as caught:
        download(session, url, policy)
    assert caught.value.status == 304
    # Empty validators send nothing, so a 304 is just as wrong.
    with pytest.raises(HttpStatusError):
        download(session, url, policy, Validators())
    assert all("if-none-match" not in r.headers for r in http_server.requests_for("/odd.png"))


def test_a_304_after_a_redirect_is_not_modified_at_the_final_url(http_server, session, policy):
    http_server.route("/old.png", redirect("/new.png", 301))
    target = http_server.route("/new.png", not_modified(ETag='"v1"'))
    result = download(session, http_server.url("/old.png"), policy, Validators('"v1"', None))
    assert isinstance(result, NotModified)
    assert (result.final_url, result.redirects) == (target, 1)
    assert http_server.requests_for("/new.png")[0].headers["if-none-match"] == '"v1"'


def test_validators_of_a_redirected_download_are_the_final_responses(http_server, session, policy):
    http_server.route("/old.png", Reply(302, content_type=None, headers={"Location": "/new.png", "ETag": '"hop"'}))
    http_server.route("/new.png", Reply(body=b"png", headers={"ETag": '"final"'}))
    result = download(session, http_server.url("/old.png"), policy)
    assert result.validators == Validators('"final"', None)


def test_the_connection_of_a_304_is_reused(http_server, session, policy):
    url = http_server.route("/a.png", not_modified())
    for _ in range(3):
        assert isinstance(download(session, url, policy, Validators('"v1"', None)), NotModified)
    ports = [r.client_port for r in http_server.requests_for("/a.png")]
    assert len(ports) == 3
    assert len(set(ports)) == 1


def test_a_probe_exposes_the_validators_of_the_whole_file(http_server, session, policy):
    video = av.mp4(duration=10_000, width=640, height=360, mdat_size=500_000)
    url = http_server.route(
        "/clip.mp4", Reply(body=video, content_type="video/mp4", honour_range=True, headers={"ETag": '"clip1"'})
    )
    result = probe(session, url, policy)
    assert isinstance(result, Probed)
    assert result.ranged
    assert result.validators == Validators('"clip1"', None)


def test_a_conditional_probe_answered_304_is_not_modified(http_server, session, policy):
    url = http_server.route("/clip.mp4", not_modified(ETag='"clip1"'))
    result = probe(session, url, policy, Validators('"clip1"', LAST_MODIFIED))
    assert isinstance(result, NotModified)
    sent = http_server.requests_for("/clip.mp4")[0].headers
    assert sent["if-none-match"] == '"clip1"'
    assert sent["range"].startswith("bytes=0-")


def test_a_304_refreshes_only_the_validators_it_carries():
    stored = Validators('"v1"', LAST_MODIFIED)
    assert stored.updated_by(Validators()) == stored
    assert stored.updated_by(Validators('"v2"', None)) == Validators('"v2"', LAST_MODIFIED)


def test_a_server_that_checks_validators_answers_304_only_when_they_match(http_server, session, policy):
    url = http_server.route(
        "/a.png", Reply(body=b"png", headers={"ETag": '"v2"', "Last-Modified": LAST_MODIFIED}, conditional=True)
    )
    assert isinstance(download(session, url, policy, Validators('"v1"', None)), Downloaded)
    assert isinstance(download(session, url, policy, Validators('W/"v2"', None)), NotModified)
    assert isinstance(download(session, url, policy, Validators(None, LAST_MODIFIED)), NotModified)
    earlier = "Mon, 30 Nov 2026 10:00:00 GMT"
    assert isinstance(download(session, url, policy, Validators(None, earlier)), Downloaded)
    # If-None-Match decides alone when both are sent.
    assert isinstance(download(session, url, policy, Validators('"v1"', LAST_MODIFIED)), Downloaded)
