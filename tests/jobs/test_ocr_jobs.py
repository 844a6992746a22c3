"""Jobs that read the text in pictures: the option everywhere it is given, the rows, reuse and the unavailable engine.

Pictures are served by a real HTTP server on 127.0.0.1 and analysed by the
pipeline's threads, as a consumer runs them (so these tests commit).
"""

from __future__ import annotations

import io
import threading

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from PIL import Image, ImageDraw, ImageFont

from lands.models import AnalysisStatus, Land, Media
from media_analysis.engine.text import TextReading
from media_analysis.engine.text.tesseract import availability
from media_analysis.engine.version import ANALYSIS_VERSION, TEXT_VERSION
from media_analysis.errors import InvalidParameters
from media_analysis.jobs import batch as media_batch
from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters, parse_parameters
from media_analysis.jobs.selection import preview_selection, select_media
from media_analysis.models import AnalysisJob, JobStatus, MediaText, MediaWord, TextStatus
from tests.factories import make_expression, make_land, make_media
from tests.support.http_server import Reply

ENGINE = availability("fra+eng")
needs_tesseract = pytest.mark.skipif(
    not ENGINE.available, reason=f"Tesseract with fra+eng is not installed: {ENGINE.reason}"
)
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"


def caption_png(text: str) -> bytes:
    img = Image.new("RGB", (640, 300), (250, 248, 240))
    ImageDraw.Draw(img).text((30, 120), text, font=ImageFont.truetype(FONT, 36), fill=(10, 10, 40))
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def plain_png(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), ((seed * 53) % 256, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def land_with(urls: list[str]) -> Land:
    land = make_land()
    for url in urls:
        make_media(make_expression(land, depth=0, relevance=1), url=url)
    return land


def run_job(land: Land, **params) -> AnalysisJob:
    job = jobs.create_job(land, JobParameters(**params))
    chunk_ids = jobs.plan_job(job.pk, chunk_size=10)
    done = threading.Event()
    finished: list[jobs.StepOutcome] = []
    lock = threading.Lock()

    def on_done(outcome: jobs.StepOutcome) -> None:
        with lock:
            finished.append(outcome)
            if len(finished) == len(chunk_ids):
                done.set()

    for chunk_id in chunk_ids:
        assert jobs.run_chunk(chunk_id, on_done=on_done, wait=False) is None
    assert done.wait(120), "the job's chunks did not complete"
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    return job


def unavailable(settings, tmp_path) -> None:
    settings.MEDIA_ANALYSIS_OCR_TESSDATA = str(tmp_path)  # no language data there


# --- The option, where it is given ------------------------------------------------------


@needs_tesseract
def test_the_option_is_a_flag_like_the_others():
    assert parse_parameters({"ocr": "yes"}).ocr is True
    assert parse_parameters({"ocr": True}).ocr is True
    assert parse_parameters({}).ocr is False
    with pytest.raises(InvalidParameters) as caught:
        parse_parameters({"ocr": "perhaps"})
    assert caught.value.errors == {"ocr": ["must be a boolean (got 'perhaps')"]}


def test_without_the_engine_asking_for_ocr_is_refused_with_the_install_command(settings, tmp_path):
    unavailable(settings, tmp_path)
    with pytest.raises(InvalidParameters) as caught:
        parse_parameters({"ocr": True})
    (message,) = caught.value.errors["ocr"]
    assert message.startswith("OCR is unavailable:")
    assert "apt-get install tesseract-ocr tesseract-ocr-fra tesseract-ocr-eng" in message
    assert parse_parameters({"ocr": False}).ocr is False  # the rest works without it


@pytest.mark.django_db
def test_the_api_answers_400_naming_the_option_when_the_engine_is_missing(staff_api_client, settings, tmp_path):
    unavailable(settings, tmp_path)
    land = make_land()
    response = staff_api_client.post(f"/api/lands/{land.pk}/medianalyse/", {"ocr": True}, format="json")
    assert response.status_code == 400
    assert "apt-get install tesseract-ocr" in response.json()["errors"]["ocr"][0]
    assert not AnalysisJob.objects.exists()


@needs_tesseract
@pytest.mark.django_db
def test_the_api_starts_a_job_that_reads_text(staff_api_client):
    land = make_land()
    response = staff_api_client.post(f"/api/lands/{land.pk}/medianalyse/", {"ocr": True}, format="json")
    assert response.status_code == 202
    assert response.json()["ocr"] is True
    assert AnalysisJob.objects.get().ocr is True


@pytest.mark.django_db
def test_the_start_form_shows_the_option_and_why_it_cannot_run(admin_client, settings, tmp_path):
    unavailable(settings, tmp_path)
    land = make_land()
    url = reverse("medianalyse:land-analysis", args=[land.pk])
    page = admin_client.get(url).content.decode()
    assert 'name="ocr"' in page
    assert "OCR is unavailable here" in page
    response = admin_client.post(url, {"media_types": ["img"], "ocr": "on"})
    assert response.status_code == 400
    assert response.context["errors"]["ocr"][0].startswith("OCR is unavailable:")
    assert not AnalysisJob.objects.exists()


@needs_tesseract
@pytest.mark.django_db
def test_the_start_form_starts_a_job_that_reads_text(admin_client):
    land = make_land()
    url = reverse("medianalyse:land-analysis", args=[land.pk])
    response = admin_client.post(url, {"media_types": ["img"], "ocr": "on"})
    assert response.status_code == 302
    assert AnalysisJob.objects.get().ocr is True


@pytest.mark.django_db
def test_the_command_refuses_ocr_without_the_engine(settings, tmp_path):
    unavailable(settings, tmp_path)
    land = make_land()
    with pytest.raises(CommandError, match="apt-get install tesseract-ocr"):
        call_command("reprocess_media", "--land-id", str(land.pk), "--ocr", "--no-progress")


@pytest.mark.django_db
def test_an_ocr_job_also_takes_the_analysed_images_whose_text_was_never_read_or_read_by_an_older_step():
    land = make_land()
    page = make_expression(land, depth=0, relevance=1)
    done = {"analysis_status": AnalysisStatus.DONE, "is_processed": True, "analysis_version": ANALYSIS_VERSION}
    unread = make_media(page, **done)
    read = make_media(page, **done)
    MediaText.objects.create(media=read, status=TextStatus.SKIPPED, version=TEXT_VERSION)
    read_before = make_media(page, **done)
    MediaText.objects.create(media=read_before, status=TextStatus.TEXT, text="old", version=TEXT_VERSION - 1)
    pending = make_media(page)
    assert set(select_media(land, JobParameters())) == {pending}
    assert set(select_media(land, JobParameters(ocr=True))) == {pending, unread, read_before}
    preview = preview_selection(land, JobParameters(ocr=True))
    assert (preview.selected, preview.unread, preview.current) == (3, 2, 1)
    assert (
        "2 analysed by the current version, their text never read or read by an older OCR step: taken to read it."
        in preview.reasons()
    )
    assert preview_selection(land, JobParameters()).unread == 0
    # The chunk's own check agrees: both are fetched in full (no validators) to be read.
    rows = {m.pk: m for m in Media.objects.filter(pk__in=[unread.pk, read.pk, read_before.pk])}
    assert media_batch.without_text(rows) == {unread.pk, read_before.pk}


# --- Rows written --------------------------------------------------------------------------


@pytest.mark.django_db
def test_texts_and_words_of_a_chunk_cost_three_statements(django_assert_num_queries):
    land = make_land()
    page = make_expression(land, depth=0, relevance=1)
    media = [make_media(page) for _ in range(30)]
    readings = {
        m.pk: TextReading("text", text=f"Stop the war {n}\nstop STOP", language="eng", confidence=90.0)
        for n, m in enumerate(media)
    }
    with django_assert_num_queries(3):
        media_batch.write_texts(readings, timezone.now())
    assert MediaText.objects.count() == 30
    assert set(MediaText.objects.values_list("version", flat=True)) == {TEXT_VERSION}
    assert list(MediaWord.objects.filter(media=media[0]).order_by("word").values_list("word", "count")) == [
        ("stop", 3),
        ("the", 1),
        ("war", 1),
    ]
    # Read again: the rows are replaced, never added to, and carry the step's version.
    MediaText.objects.filter(media=media[0]).update(version=TEXT_VERSION - 1)
    again = {media[0].pk: TextReading("text", text="save the forest")}
    with django_assert_num_queries(3):
        media_batch.write_texts(again, timezone.now())
    assert sorted(MediaWord.objects.filter(media=media[0]).values_list("word", flat=True)) == [
        "forest",
        "save",
        "the",
    ]
    assert MediaText.objects.get(media=media[0]).text == "save the forest"
    assert MediaText.objects.get(media=media[0]).version == TEXT_VERSION
    assert MediaText.objects.count() == 30


# --- A job through the pipeline ------------------------------------------------------------


@needs_tesseract
@pytest.mark.django_db(transaction=True)
def test_a_job_with_ocr_reads_captions_skips_plain_pictures_and_copies_text_by_content(http_server):
    caption = caption_png("SAVE THE FOREST")
    urls = [
        http_server.route("/ocr/caption.png", Reply(body=caption, content_type="image/png")),
        http_server.route("/ocr/copy/caption.png", Reply(body=caption, content_type="image/png")),
        http_server.route("/ocr/plain.png", Reply(body=plain_png(1), content_type="image/png")),
    ]
    land = land_with(urls)

    job = run_job(land, ocr=True)

    assert job.ocr is True
    assert job.analysed + job.reused == 3
    texts = {t.media.url: t for t in MediaText.objects.select_related("media")}
    assert texts[urls[0]].status == TextStatus.TEXT
    assert texts[urls[0]].text == "SAVE THE FOREST"
    assert texts[urls[0]].language == "eng"
    assert texts[urls[0]].engine == ENGINE.engine
    assert texts[urls[1]].text == "SAVE THE FOREST"  # the same bytes: read once, copied
    assert texts[urls[2]].status == TextStatus.SKIPPED
    assert texts[urls[2]].recognise_ms is None
    words = sorted(MediaWord.objects.filter(media__url=urls[0]).values_list("word", "count"))
    assert words == [("forest", 1), ("save", 1), ("the", 1)]
    assert MediaWord.objects.filter(media__url=urls[1]).count() == 3


@needs_tesseract
@pytest.mark.django_db(transaction=True)
def test_a_later_ocr_job_reads_the_text_of_a_land_analysed_without_it(http_server):
    url = http_server.route("/later/caption.png", Reply(body=caption_png("THIS IS FINE"), content_type="image/png"))
    land = land_with([url])
    first = run_job(land)
    assert first.analysed == 1
    assert not MediaText.objects.exists()

    second = run_job(land, ocr=True)

    # The stored analysis came from bytes without their text: they are fetched and read.
    assert second.total == 1
    assert MediaText.objects.get().text == "THIS IS FINE"
    assert Media.objects.get().analysis_status == AnalysisStatus.DONE


@needs_tesseract
@pytest.mark.django_db(transaction=True)
def test_an_ocr_job_reads_again_a_text_read_by_an_older_step_and_keeps_a_current_one(http_server):
    urls = [
        http_server.route("/again/old.png", Reply(body=caption_png("KEEP IT GREEN"), content_type="image/png")),
        http_server.route("/again/new.png", Reply(body=caption_png("STAY HOME"), content_type="image/png")),
    ]
    land = land_with(urls)
    run_job(land, ocr=True)
    old = MediaText.objects.get(media__url=urls[0])
    MediaText.objects.filter(pk=old.pk).update(text="KEEP IT GREFN", version=TEXT_VERSION - 1)
    MediaWord.objects.filter(media_id=old.pk).delete()
    current_before = MediaText.objects.get(media__url=urls[1]).recognised_at

    again = run_job(land, ocr=True)

    assert again.total == 1  # only the older reading is taken
    reread = MediaText.objects.get(media__url=urls[0])
    assert (reread.text, reread.version) == ("KEEP IT GREEN", TEXT_VERSION)
    assert sorted(MediaWord.objects.filter(media__url=urls[0]).values_list("word", flat=True)) == [
        "green",
        "it",
        "keep",
    ]
    assert MediaText.objects.get(media__url=urls[1]).recognised_at == current_before
