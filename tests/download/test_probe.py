"""``probe``: video/audio metadata from the first bytes, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import itertools
import time

import pytest

from media_analysis.engine.errors import HttpStatusError, RefusedAddress
from media_analysis.engine.fetch import build_session, probe
from tests.support import av_samples as av
from tests.support.http_server import Reply, redirect

from .conftest import local_policy

PROBE_BYTES = 64 * 1024


def run_probe(url, **policy_overrides):
    policy = local_policy(probe_bytes=PROBE_BYTES, **policy_overrides)
    with build_session(policy) as session:
        return probe(session, url, policy)


def test_range_request_honoured(http_server):
    video = av.mp4(duration=90_500, width=1280, height=720, mdat_size=3_000_000)
    url = http_server.route("/clip.mp4", Reply(body=video, content_type="video/mp4", honour_range=True))
    result = run_probe(url)
    assert result.ranged
    assert result.head == video[:PROBE_BYTES]
    assert result.size == len(video)
    assert (result.mime_type, result.duration, result.width, result.height) == ("video/mp4", 90.5, 1280, 720)
    assert http_server.requests_for("/clip.mp4")[0].headers["range"] == f"bytes=0-{PROBE_BYTES - 1}"
    assert http_server.requests_for("/clip.mp4")[0].headers["accept-encoding"] == "identity"


def test_range_ignored_reads_only_the_first_bytes(http_server):
    video = av.webm(duration=42_000.0, width=854, height=480, cluster_bytes=5_000_000)
    # Trickled after the first chunk: reading the whole file would take minutes.
    url = http_server.route(
        "/talk.webm", Reply(body=video, content_type="video/webm", chunk_size=PROBE_BYTES, chunk_delay=0.5)
    )
    started = time.monotonic()
    result = run_probe(url)
    assert time.monotonic() - started < 0.4
    assert not result.ranged
    assert result.head == video[:PROBE_BYTES]
    assert result.size == len(video)
    assert (result.mime_type, result.duration, result.width, result.height) == ("video/webm", 42.0, 854, 480)


def test_endless_stream_without_length(http_server):
    header = av.mp4(mdat_size=0)
    reply = Reply(framing="chunked", stream=lambda: itertools.chain([header], itertools.repeat(bytes(16_384), 10_000)))
    url = http_server.route("/live", reply)
    result = run_probe(url)
    assert result.size is None
    assert len(result.head) == PROBE_BYTES
    assert result.duration == pytest.approx(12.345)


@pytest.mark.parametrize(
    ("name", "data", "content_type", "mime_type", "duration"),
    [
        ("song.mp3", av.mp3_cbr(audio_frames=400, bitrate_kbps=128), "audio/mpeg", "audio/mpeg", None),
        ("vbr.mp3", av.mp3_vbr(frames=2000), "audio/mpeg", "audio/mpeg", 2000 * 1152 / 44_100),
        ("voice.wav", av.wav(seconds=2.0, sample_rate=16_000, channels=1), "audio/x-wav", "audio/wav", 2.0),
        ("theme.ogg", av.ogg_vorbis(total_samples=88_200), "application/ogg", "audio/ogg", 2.0),
        ("master.flac", av.flac(total_samples=441_000), "audio/flac", "audio/flac", 10.0),
        ("old.mov", av.mp4(brand=b"qt  ", duration=4_000), "application/octet-stream", "video/quicktime", 4.0),
    ],
)
def test_audio_and_video_formats(http_server, name, data, content_type, mime_type, duration):
    url = http_server.route(f"/{name}", Reply(body=data, content_type=content_type, honour_range=True))
    result = run_probe(url)
    assert result.mime_type == mime_type
    assert result.content_type == content_type
    assert result.size == len(data)
    if duration is None:
        # Constant bitrate: estimated from the total size the Content-Range told.
        audio_start = len(av.id3v2())
        duration = (len(data) - audio_start) * 8 / 128_000
    assert result.duration == pytest.approx(duration)


def test_mime_type_falls_back_to_the_header(http_server):
    url = http_server.route("/odd.bin", Reply(body=bytes(1000), content_type="video/x-flv", honour_range=True))
    result = run_probe(url)
    assert (result.mime_type, result.duration) == ("video/x-flv", None)


def test_probe_follows_redirects_and_checks_them(http_server):
    http_server.route("/v", redirect("/media/v.mp4"))
    http_server.route("/media/v.mp4", Reply(body=av.mp4(), content_type="video/mp4", honour_range=True))
    result = run_probe(http_server.url("/v"))
    assert result.final_url == http_server.url("/media/v.mp4")
    assert result.duration == pytest.approx(12.345)
    http_server.route("/evil", redirect("http://169.254.169.254/video.mp4"))
    with pytest.raises(RefusedAddress):
        run_probe(http_server.url("/evil"))


def test_probe_http_errors(http_server):
    url = http_server.route("/missing.mp4", Reply(404))
    with pytest.raises(HttpStatusError) as caught:
        run_probe(url)
    assert caught.value.status == 404
