"""A researcher's day in a real browser: the start form's count, a cancel with its confirmation and the progress
page moving after it, the progress page on a phone, an API token made, used and revoked, the API docs offline.

Daphne and a Huey consumer run as subprocesses on the test's database (the embedded deployment); Chromium is
driven by Playwright. The media of the second chunk onwards are held by the local server until the test lets
them go, so a chunk is surely running when the job is cancelled.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connections

from lands.models import Land, Media
from media_analysis.models import AnalysisJob, ApiToken, JobChunk, JobStatus
from tests.factories import make_expression, make_land
from tests.liveui.test_browser import picture
from tests.support.browser import running_daphne, save_screenshot, wait_for_other_sessions_to_end
from tests.support.http_server import Reply
from tests.support.processes import Consumer, child_env, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "researcher-password-1"
FIRST_CHUNK_IMAGES = 2
BROKEN = 2
HELD = 12
CHUNK = FIRST_CHUNK_IMAGES + BROKEN
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def fast_password_hashing():
    """The server checks the password with the production hasher: keep it."""


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def held_land(http_server, release) -> Land:
    """One chunk served at once (two images, two HTML pages at long URLs), then HELD images held until released.

    The job takes media by URL: the "a-" paths form its first chunk.
    """
    land = make_land("Researcher land")
    page = make_expression(land, depth=0, relevance=2)
    urls = []
    for index in range(BROKEN):
        long_path = "/a-broken/" + "-".join(["a-long-path-segment-that-does-not-wrap"] * 4) + f"-{index}.jpg"
        urls.append(http_server.route(long_path, Reply(body=b"<html>moved</html>", content_type="text/html")))
    for index in range(FIRST_CHUNK_IMAGES):
        body, content_type = picture(index)
        urls.append(http_server.route(f"/a-img/{index}", Reply(body=body, content_type=content_type)))
    for index in range(HELD):
        body, content_type = picture(index + 10)
        urls.append(http_server.route(f"/b-held/{index}", Reply(body=body, content_type=content_type, hold=release)))
    Media.objects.bulk_create(Media(expression=page, url=url) for url in urls)
    return land


@pytest.fixture
def server(transactional_db, tmp_path, static_root):
    env = child_env(
        tmp_path,
        None,
        DJANGO_STATIC_ROOT=str(static_root),
        MEDIA_ANALYSIS_CHUNK_SIZE=str(CHUNK),
        MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY="2",
        # Held downloads wait for the test, not for a read timeout.
        MEDIA_ANALYSIS_TIMEOUT="120",
        MEDIA_ANALYSIS_DOWNLOAD_DEADLINE="180",
        MEDIANALYSE_LOG_LEVEL="WARNING",
    )
    # One worker: it submits the chunks in order, so the first chunk's downloads are queued before the held ones.
    consumer = Consumer(env, tmp_path / "consumer.log", workers=1, worker_type="thread")
    try:
        with running_daphne(env, tmp_path) as base:
            yield {"base": base, "logs": tmp_path}
    finally:
        consumer.stop()
        wait_for_other_sessions_to_end()


def counters(page) -> dict[str, int]:
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll(".ma-counters dd[data-field]")]
              .map(dd => [dd.dataset.field, parseInt(dd.textContent, 10)])
              .filter(([, value]) => !Number.isNaN(value)))"""
    )


def mode(page) -> str | None:
    return page.get_attribute("#ma-connection", "data-mode")


def log_in(page, base: str, next_path: str) -> None:
    page.goto(f"{base}/admin/login/?next={next_path}")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()


def test_a_researchers_day(server, held_land, release, browser):
    try:
        researchers_day(server, held_land, release, browser)
    finally:
        release.set()
        # Playwright's sync API runs the body in a context of its own, with its own database connection.
        connections.close_all()


def researchers_day(server, land, release, browser) -> None:
    hasher = PBKDF2PasswordHasher()
    user = get_user_model().objects.create_superuser("researcher", "researcher@example.org", None)
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    base = server["base"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()

    # The start form says how many media the parameters take before anything starts.
    log_in(page, base, f"/admin/medianalyse/lands/{land.pk}/")
    total = BROKEN + FIRST_CHUNK_IMAGES + HELD
    preview = " ".join(page.text_content("#ma-selection-preview").split())
    assert f"{total} of the {total} media these parameters cover would be analysed" in preview
    page.fill("#id_depth", "5")
    page.uncheck("input[name=media_types][value=img]")
    page.check("input[name=media_types][value=video]")
    page.click("#ma-preview")
    preview = " ".join(page.text_content("#ma-selection-preview").split())
    assert "No media of the chosen types" in preview, preview
    assert AnalysisJob.objects.count() == 0
    page.uncheck("input[name=media_types][value=video]")
    page.check("input[name=media_types][value=img]")

    # Start; the first chunk ends, the next ones hang on the held downloads.
    page.click("#ma-start")
    page.wait_for_url(f"{base}/admin/medianalyse/jobs/*/")
    job = AnalysisJob.objects.get(land=land)
    progress_url = page.url
    processed = "parseInt(document.querySelector('.ma-counters [data-field=processed]').textContent)"
    page.wait_for_function(f"() => {processed} >= {CHUNK}")
    wait_until(
        lambda: JobChunk.objects.filter(job=job, status="pending").exclude(claimed_by="").exists(),
        15,
        what="a held chunk to be claimed",
    )
    assert page.locator("#ma-failures tbody tr").count() == BROKEN

    # The failures link opens the media list filtered to this job's failures.
    failures_href = page.get_attribute("#ma-all-failures", "href")
    assert "analysis_status__exact=failed" in failures_href

    # The progress page on a phone: nothing wider than the screen.
    phone = context.new_page()
    phone.set_viewport_size(PHONE)
    phone.goto(progress_url)
    phone.wait_for_selector("#ma-failures tbody tr td[data-label=URL]")
    width = phone.evaluate("document.documentElement.scrollWidth")
    save_screenshot(phone, "researcher-progress-phone.png")
    assert width <= PHONE["width"], width
    phone.close()

    # Cancel: a confirmation page first, then the job's page, which keeps moving while the running chunk ends.
    page.click("#ma-cancel-link")
    page.wait_for_selector("#ma-cancel-confirm-button")
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING
    page.click("#ma-cancel-confirm-button")
    page.wait_for_url(progress_url)
    page.wait_for_selector("#ma-status[data-status=cancelled]")
    assert page.is_visible("#ma-settling")
    assert mode(page) != "finished"
    before = counters(page)
    release.set()
    page.wait_for_function("() => document.getElementById('ma-connection').dataset.mode === 'finished'", timeout=30_000)
    job.refresh_from_db()
    after = counters(page)
    assert job.status == JobStatus.CANCELLED
    assert after["processed"] == job.processed > before["processed"], (before, after)
    assert after["analysed"] == job.analysed
    assert after["skipped"] == job.skipped
    assert after["not_processed"] == job.total - job.processed
    assert not page.is_visible("#ma-settling")
    summary = " ".join(page.text_content("#ma-summary").split())
    assert f"{job.total - job.processed} not processed" in summary
    save_screenshot(page, "researcher-progress-cancelled.png")

    # The media list opened from the failures link lists the job's failures.
    page.goto(f"{base}{failures_href}" if failures_href.startswith("/") else failures_href)
    assert page.locator("#result_list tbody tr").count() == BROKEN

    # The land's page: its object tools sit clear of the title, on a wide screen and on a phone.
    page.goto(f"{base}/admin/lands/land/{land.pk}/change/")
    for viewport in ({"width": 1280, "height": 900}, PHONE):
        page.set_viewport_size(viewport)
        tools = page.locator(".object-tools").bounding_box()
        assert tools is not None
        for heading in page.locator("#content h1, #content h2").all():
            title = heading.bounding_box()
            assert title is not None
            overlap = not (
                tools["x"] >= title["x"] + title["width"]
                or title["x"] >= tools["x"] + tools["width"]
                or tools["y"] >= title["y"] + title["height"]
                or title["y"] >= tools["y"] + tools["height"]
            )
            assert not overlap, (viewport, heading.text_content(), title, tools)
    page.set_viewport_size({"width": 1280, "height": 900})

    # A token of one's own: made on its page, used by a script, revoked.
    page.goto(f"{base}/admin/")
    page.click("#ma-research-pages >> text=Your API tokens")
    page.fill("#id_token_name", "notebook")
    page.click("#ma-token-create")
    key = page.text_content("#ma-token-key").strip()
    assert f"Token {key}" in page.text_content("#ma-token-curl")
    api = requests.get(f"{base}/api/jobs/", headers={"Authorization": f"Token {key}"}, timeout=10)
    assert api.status_code == 200
    assert api.json()["results"][0]["id"] == job.pk
    page.goto(f"{base}/admin/medianalyse/tokens/")
    assert key not in page.content()
    page.click("input.ma-revoke")
    page.wait_for_selector("text=revoked")
    assert not ApiToken.objects.exists()
    assert requests.get(f"{base}/api/jobs/", headers={"Authorization": f"Token {key}"}, timeout=10).status_code == 401

    # The API docs with every request outside this machine refused: Swagger UI still renders the operations.
    outside: list[str] = []

    def loopback_only(route):
        host = urlsplit(route.request.url).hostname or ""
        if host == "127.0.0.1" or host.startswith("127.") or host == "localhost":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", loopback_only)
    page.goto(f"{base}/api/docs/")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() >= 10
    assert page.locator(".opblock-summary-path", has_text="/api/jobs/").count() >= 1
    save_screenshot(page, "researcher-api-docs-offline.png", full_page=False)
    page.goto(f"{base}/api/redoc/")
    page.wait_for_selector("text=/api/jobs/", timeout=20_000)
    assert outside == [], outside
    context.close()
