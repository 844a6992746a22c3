import io
import threading

import pytest
from PIL import Image
from prometheus_client import REGISTRY

from lands.models import AnalysisStatus, Media
from media_analysis.engine.version import ANALYSIS_VERSION
from media_analysis.jobs import batch as services
from media_analysis.jobs.batch import analyse_media
from tests.factories import make_expression, make_land, make_media
from tests.support.http_server import Reply


def _png(size=(320, 240), color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def page(db):
    return make_expression(make_land())


def test_results_and_errors_are_written_for_every_media(page, http_server):
    http_server.route("/ok.png", Reply(body=_png(), content_type="image/png"))
    http_server.route("/html.png", Reply(body=b"<!doctype html><p>hi", content_type="image/png"))
    http_server.route("/gone.png", Reply(status=404, body=b"nope", content_type="text/plain"))
    ok = make_media(page, url=http_server.url("/ok.png"))
    html = make_media(page, url=http_server.url("/html.png"))
    gone = make_media(page, url=http_server.url("/gone.png"))
    refused = make_media(page, url="http://10.0.0.1/x.png")  # refused before any connection

    result = analyse_media([ok.pk, html.pk, gone.pk, refused.pk, 999999])

    assert (result.analysed, result.failed, result.skipped) == (1, 3, 1)
    ok.refresh_from_db()
    assert ok.analysis_status == AnalysisStatus.DONE
    assert ok.is_processed
    assert (ok.width, ok.height, ok.format, ok.mime_type) == (320, 240, "PNG", "image/png")
    assert ok.dominant_colors[0]["hex"] == "#c81e1e"
    assert ok.image_hash
    assert ok.phash
    assert ok.analyzed_at
    assert ok.analysis_error is None
    assert ok.is_conforming is True
    expected = {html.pk: "not_an_image", gone.pk: "http_status", refused.pk: "refused_address"}
    for media in Media.objects.filter(pk__in=expected):
        assert media.analysis_status == AnalysisStatus.FAILED
        assert media.is_processed
        assert media.error_class == expected[media.pk]
        assert media.analysis_error
        assert media.analyzed_at
    assert Media.objects.get(pk=html.pk).mime_type == "text/html"
    assert {f["error_class"] for f in result.failures} == set(expected.values())


def test_a_later_failure_says_failed_and_keeps_the_earlier_values(page, http_server):
    http_server.route(
        "/flaky.png",
        Reply(body=_png(), content_type="image/png"),
        Reply(status=404, body=b""),
        Reply(body=_png(color=(0, 90, 0)), content_type="image/png"),
    )
    media = make_media(page, url=http_server.url("/flaky.png"))
    analyse_media([media.pk])
    media.refresh_from_db()
    good = {f: getattr(media, f) for f in ("width", "height", "image_hash", "phash", "dominant_colors")}
    first_attempt = media.analyzed_at
    assert (media.analysis_version, media.values_at) == (ANALYSIS_VERSION, first_attempt)
    assert media.values_are_current
    assert not media.has_earlier_values

    result = analyse_media([media.pk])

    assert result.failed == 1
    media.refresh_from_db()
    # The status is the latest attempt's; the earlier values stay, dated and versioned.
    assert media.analysis_status == AnalysisStatus.FAILED
    assert media.error_class == "http_status"
    assert {f: getattr(media, f) for f in good} == good
    assert (media.analysis_version, media.values_at) == (ANALYSIS_VERSION, first_attempt)
    assert media.analyzed_at > first_attempt
    assert media.attempts == 2
    assert media.has_earlier_values
    assert not media.values_are_current
    assert media.values_note.startswith("failed now; values from ")
    assert f"version {ANALYSIS_VERSION}" in media.values_note
    assert list(Media.objects.with_earlier_values()) == [media]

    analyse_media([media.pk])

    media.refresh_from_db()
    # A new success clears the error and dates the new values.
    assert (media.analysis_status, media.error_class, media.analysis_error) == (AnalysisStatus.DONE, None, None)
    assert media.values_at == media.analyzed_at > first_attempt
    assert media.dominant_colors[0]["hex"] == "#005a00"
    assert not Media.objects.with_earlier_values().exists()


def test_queries_do_not_grow_with_the_batch(page, http_server, django_assert_max_num_queries):
    http_server.route("/a.png", Reply(body=_png(), content_type="image/png"))
    http_server.route("/b.png", Reply(body=b"broken", content_type="image/png"))

    def batch(n):
        return [make_media(page, url=http_server.url(f"/{'a' if i % 2 else 'b'}.png?{n}-{i}")).pk for i in range(n)]

    small, large = batch(4), batch(40)
    with django_assert_max_num_queries(6) as small_queries:
        analyse_media(small)
    with django_assert_max_num_queries(6) as large_queries:
        analyse_media(large)
    assert len(large_queries.captured_queries) == len(small_queries.captured_queries)


def test_audio_metadata_comes_from_the_first_bytes(page, http_server):
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * 8000 * 3)
    http_server.route("/tone.wav", Reply(body=buffer.getvalue(), content_type="audio/wav", honour_range=True))
    media = make_media(page, url=http_server.url("/tone.wav"), type="audio")
    assert analyse_media([media.pk]).analysed == 1
    media.refresh_from_db()
    assert media.analysis_status == AnalysisStatus.DONE
    assert media.mime_type in {"audio/wav", "audio/x-wav", "audio/vnd.wave"}
    assert media.duration == pytest.approx(3.0, abs=0.01)
    assert media.file_size == len(buffer.getvalue())


def test_outcomes_are_counted_in_metrics(page, http_server):
    http_server.route("/m.png", Reply(body=b"<html>", content_type="text/html"))
    media = make_media(page, url=http_server.url("/m.png"))
    before = REGISTRY.get_sample_value("media_analysis_failures_total", {"reason": "not_an_image"}) or 0
    analyse_media([media.pk])
    after = REGISTRY.get_sample_value("media_analysis_failures_total", {"reason": "not_an_image"})
    assert after == before + 1


def test_written_fields_round_trip_as_real_json_and_datetimes(page):
    from django.utils import timezone

    from media_analysis.jobs.batch import write_media_fields

    media = make_media(page)
    media.dominant_colors = [{"rgb": [1, 2, 3], "hex": "#010203", "percentage": 50.0}]
    media.exif_data = {"Make": "Maker", "GPSLatitude": 48.85}
    media.analyzed_at = timezone.now()
    media.has_transparency = False
    write_media_fields([media], ["dominant_colors", "exif_data", "analyzed_at", "has_transparency"])
    stored = Media.objects.get(pk=media.pk)
    assert stored.dominant_colors == media.dominant_colors
    assert stored.exif_data == media.exif_data
    assert stored.analyzed_at == media.analyzed_at
    assert stored.has_transparency is False
    assert Media.objects.filter(dominant_colors__0__hex="#010203").exists()  # JSON, not a string


def test_analyses_run_no_more_at_once_than_the_setting_allows(page, http_server, settings, monkeypatch) -> None:
    settings.MEDIA_ANALYSIS_ANALYSIS_THREADS = 2
    settings.MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY = 6
    settings.MEDIA_ANALYSIS_REUSE_BY_CONTENT = False  # the same bytes under six URLs: every one analysed
    running, peak, entered, lock = 0, 0, 0, threading.Lock()
    # The first two analyses meet inside: both slots are then taken, and one is not free for a third.
    # A limit of one would never let them meet: the timeout turns that into a failure, not a hang.
    both_inside = threading.Barrier(2, timeout=30)
    slot_was_free: list[bool] = []
    real_analyse = services.analyse_image

    def watched(content, options, **kwargs):
        nonlocal running, peak, entered
        with lock:
            running += 1
            peak = max(peak, running)
            entered += 1
            first_two = entered <= 2
        try:
            if first_two:
                both_inside.wait()
                slots = services.analysis_slots()
                took = slots.acquire(blocking=False)
                if took:
                    slots.release()
                slot_was_free.append(took)
                both_inside.wait()  # neither leaves before both have looked
        finally:
            with lock:
                running -= 1
        return real_analyse(content, options, **kwargs)

    monkeypatch.setattr(services, "analyse_image", watched)
    http_server.route("/a.png", Reply(body=_png(), content_type="image/png"))
    media = [make_media(page, url=http_server.url(f"/a.png?{n}")) for n in range(6)]

    result = analyse_media([m.pk for m in media])

    assert result.analysed == 6
    assert slot_was_free == [False, False]
    assert peak == 2


def test_malformed_urls_end_as_invalid_urls(page, http_server):
    http_server.route("/ok.png", Reply(body=_png(), content_type="image/png"))
    ok = make_media(page, url=http_server.url("/ok.png"))
    malformed = [
        "http://[::1/a.png",
        "http://[not-an-address]/a.png",
        f"http://127.0.0.1:{http_server.port}0000/a.png",  # port out of range
        "http://:80/a.png",
        "http://exa mple.org/a.png",
        "http://a..b.org/a.png",
    ]
    rows = [make_media(page, url=url) for url in malformed]

    result = analyse_media([ok.pk, *(m.pk for m in rows)])

    assert (result.analysed, result.failed) == (1, len(malformed))
    for media in Media.objects.filter(pk__in=[m.pk for m in rows]):
        assert media.analysis_status == AnalysisStatus.FAILED
        assert media.error_class == "invalid_url", media.url
        assert media.analysis_error
    assert {f["error_class"] for f in result.failures} == {"invalid_url"}
    assert http_server.hits() == 1  # only the valid one reached the server
