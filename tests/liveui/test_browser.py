"""The live progress page in a real browser, on the real stack.

Daphne serves HTTP and WebSockets, a Huey consumer does the work, both as
subprocesses on the test's database; Chromium (Debian's, driven by
Playwright) logs into the admin, starts an analysis of a land whose images a
local server hands out slowly, and watches the page move to 100% without
reloading. Three tabs follow the same job: one on the plain WebSocket, one
whose socket is dropped once (it must reconnect), one without WebSocket
support (it must poll the JSON API).

Runs on both deployments: "embedded" (SqliteHuey, in-memory channel layer:
the socket consumer follows the job row) and "redis" (RedisHuey and
RedisChannelLayer: workers publish).
"""

from __future__ import annotations

import io
import time

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connections
from PIL import Image, ImageDraw

from lands.models import AnalysisStatus, Land, Media
from media_analysis.models import AnalysisJob, JobStatus
from media_analysis.web import gallery
from tests.factories import make_expression, make_land
from tests.support.browser import running_daphne, save_screenshot, wait_for_other_sessions_to_end
from tests.support.http_server import Reply
from tests.support.processes import Consumer, child_env, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

IMAGES = 58
BROKEN = 2
LATENCY = 0.1
JOB_TIMEOUT = 40.0
PASSWORD = "browser-password-1"

# Records every state of the page's connection line, so a short "reconnecting" is not missed.
RECORD_MODES = """
window.__modes = [];
new MutationObserver((records) => {
  for (const record of records) {
    if (record.target.id === "ma-connection") window.__modes.push(record.target.getAttribute("data-mode"));
  }
}).observe(document, {subtree: true, attributes: true, attributeFilter: ["data-mode"]});
"""
NO_WEBSOCKET = "Object.defineProperty(window, 'WebSocket', {value: undefined, configurable: true});"


@pytest.fixture(autouse=True)
def fast_password_hashing():
    """The servers check the password with the production hasher: keep it."""


@pytest.fixture(params=["embedded", "redis"])
def deployment(request) -> tuple[str, str | None]:
    if request.param == "redis":
        return "redis", request.getfixturevalue("redis_server_url")
    return "embedded", None


def picture(index: int) -> tuple[bytes, str]:
    """A generated picture: sizes, colours and formats vary with ``index``."""
    width, height = (220 + (index * 37) % 300, 200 + (index * 53) % 220)
    if index % 9 == 4:
        width, height = 150, 96  # too small: analysed, but not conforming
    a = ((index * 67) % 256, (index * 29) % 256, (index * 151) % 256)
    b = (255 - a[0], (a[1] + 120) % 256, a[2] // 2)
    image = Image.new("RGB", (width, height), a)
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 4, height // 4, width * 3 // 4, height * 3 // 4), fill=b)
    draw.ellipse((0, 0, width // 3, height // 3), fill=(255, 255, 255))
    kind = ("JPEG", "image/jpeg") if index % 3 else ("PNG", "image/png")
    buffer = io.BytesIO()
    image.save(buffer, format=kind[0])
    return buffer.getvalue(), kind[1]


def sample_photo(name: str) -> bytes:
    from sklearn.datasets import load_sample_image

    image = Image.fromarray(load_sample_image(name)).resize((320, 214))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


@pytest.fixture
def served_land(http_server) -> Land:
    """A land of IMAGES pictures and BROKEN non-images, every response LATENCY late."""
    land = make_land("Browser land")
    pages = [make_expression(land, depth=d % 3, relevance=1 + d) for d in range(4)]
    urls: list[str] = []
    for name in ("china.jpg", "flower.jpg"):
        urls.append(
            http_server.route(
                f"/photo/{name}", Reply(body=sample_photo(name), content_type="image/jpeg", latency=LATENCY)
            )
        )
    for index in range(IMAGES - len(urls)):
        body, content_type = picture(index)
        urls.append(http_server.route(f"/img/{index}", Reply(body=body, content_type=content_type, latency=LATENCY)))
    for index in range(BROKEN):
        urls.append(
            http_server.route(
                f"/broken/{index}.jpg", Reply(body=b"<html>moved</html>", content_type="text/html", latency=LATENCY)
            )
        )
    Media.objects.bulk_create(Media(expression=pages[i % len(pages)], url=url) for i, url in enumerate(urls))
    return land


@pytest.fixture
def stack(transactional_db, tmp_path, deployment, static_root):
    """Daphne and a Huey consumer on the test database; stopped before the database is flushed."""
    name, redis_url = deployment
    env = child_env(
        tmp_path,
        redis_url,
        DJANGO_STATIC_ROOT=str(static_root),
        MEDIA_ANALYSIS_CHUNK_SIZE="4",
        MEDIA_ANALYSIS_DOWNLOAD_CONCURRENCY="2",
        MEDIANALYSE_LOG_LEVEL="WARNING",
    )
    consumer = Consumer(env, tmp_path / "consumer.log", workers=2, worker_type="thread")
    try:
        with running_daphne(env, tmp_path) as base:
            yield {"base": base, "name": name, "consumer": consumer, "logs": tmp_path}
    finally:
        consumer.stop()
        wait_for_other_sessions_to_end()


def state_of(page) -> dict:
    return page.evaluate(
        """() => ({
            value: document.getElementById("ma-progress-bar").value,
            status: document.getElementById("ma-status").getAttribute("data-status"),
            mode: document.getElementById("ma-connection").getAttribute("data-mode"),
            marker: window.__marker,
        })"""
    )


def counters_of(page) -> dict[str, int]:
    return page.evaluate(
        """() => Object.fromEntries(
            [...document.querySelectorAll(".ma-counters dd[data-field]")]
              .filter(dd => ["total", "processed", "analysed", "failed", "skipped"].includes(dd.dataset.field))
              .map(dd => [dd.dataset.field, parseInt(dd.textContent, 10)]))"""
    )


def test_progress_page_follows_a_real_job_to_the_end(stack, served_land, browser):
    try:
        follow_a_job(stack, served_land, browser)
    finally:
        # Under Playwright's sync API the test body runs in its own context, where Django
        # opened a connection of its own: close it, or PostgreSQL keeps the test database busy.
        connections.close_all()


def follow_a_job(stack, land, browser) -> None:
    # The server runs in another process with the production hashers: store a hash it can check,
    # not the suite's fast MD5 one.
    hasher = PBKDF2PasswordHasher()
    admin = get_user_model().objects.create_superuser("browser", "browser@example.org", None)
    admin.password = hasher.encode(PASSWORD, hasher.salt())
    admin.save(update_fields=["password"])
    base, name = stack["base"], stack["name"]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    context.add_init_script(RECORD_MODES)
    page = context.new_page()

    # Log in through the admin's own form, then start the job from the land's analysis page.
    page.goto(f"{base}/admin/login/?next=/admin/medianalyse/lands/{land.pk}/")
    page.fill("#id_username", "browser")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    if not page.is_visible("#ma-start-form"):
        save_screenshot(page, f"liveui-{name}-login-failed.png")
        logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in stack["logs"].glob("*.log"))
        pytest.fail(f"no start form after logging in at {page.url}:\n{page.inner_text('body')[:2000]}\n{logs}")
    page.click("#ma-start")
    page.wait_for_url(f"{base}/admin/medianalyse/jobs/*/")
    job = AnalysisJob.objects.get(land=land)
    assert page.url == f"{base}/admin/medianalyse/jobs/{job.pk}/"
    page.evaluate("window.__marker = 1")

    # A second tab whose socket is dropped once by the network, a third without WebSocket support.
    dropped = {"connections": 0, "relayed": 0}

    def drop_first_socket(route):
        server = route.connect_to_server()
        dropped["connections"] += 1
        if dropped["connections"] > 1:
            return

        def relay(message):
            route.send(message)
            dropped["relayed"] += 1
            if dropped["relayed"] == 2:
                route.close(code=4000, reason="dropped by the network")
                server.close()

        server.on_message(relay)

    flaky = context.new_page()
    flaky.route_web_socket("**/ws/jobs/**", drop_first_socket)
    flaky.goto(page.url)
    polling = context.new_page()
    polling.add_init_script(NO_WEBSOCKET)
    polling.goto(page.url)

    seen: list[float] = []
    screenshot_taken = False
    deadline = time.monotonic() + JOB_TIMEOUT
    current = state_of(page)
    while time.monotonic() < deadline:
        current = state_of(page)
        if not seen or current["value"] != seen[-1]:
            seen.append(current["value"])
        if not screenshot_taken and 30 <= current["value"] < 90:
            save_screenshot(page, f"liveui-{name}-progress-running.png")
            screenshot_taken = True
        if current["status"] not in ("pending", "running"):
            break
        page.wait_for_timeout(100)
    job.refresh_from_db()
    logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in stack["logs"].glob("*.log"))
    assert current["status"] == "completed", f"page stuck at {current}; job {job.status}\n{logs}"
    assert job.status == JobStatus.COMPLETED

    # It moved in steps, reached 100%, and never reloaded.
    assert current["value"] == 100
    assert current["marker"] == 1
    print(f"{name}: progress values seen {seen}")
    intermediate = [v for v in seen if 0 < v < 100]
    assert len(intermediate) >= 2, seen
    assert seen == sorted(seen)
    assert current["mode"] == "finished"
    assert page.is_visible("#ma-summary")
    assert not page.is_visible("#ma-cancel")
    modes = page.evaluate("window.__modes")
    assert "live" in modes
    assert "polling" not in modes

    # The figures shown are the database's.
    media = Media.objects.of_land(land.pk)
    expected = {
        "total": job.total,
        "processed": job.processed,
        "analysed": job.analysed,
        "failed": job.failed,
        "skipped": job.skipped,
    }
    assert expected == {
        "total": IMAGES + BROKEN,
        "processed": IMAGES + BROKEN,
        "analysed": media.filter(analysis_status=AnalysisStatus.DONE).count(),
        "failed": media.filter(analysis_status=AnalysisStatus.FAILED).count(),
        "skipped": 0,
    }
    assert job.analysed == IMAGES
    assert job.failed == BROKEN
    assert counters_of(page) == expected
    assert page.text_content("#ma-summary [data-field=success_rate]") == f"{job.success_rate:.1f}%"
    failure_rows = page.locator("#ma-failures tbody tr")
    assert failure_rows.count() == BROKEN
    assert set(page.locator("#ma-failures tbody code").all_text_contents()) == {"not_an_image"}
    save_screenshot(page, f"liveui-{name}-progress-done.png")

    # The tab whose socket dropped reconnected; the tab without sockets polled; both got to the end.
    wait_until(lambda: state_of(flaky)["status"] == "completed", 10, what="the reconnecting tab to finish")
    wait_until(lambda: state_of(polling)["status"] == "completed", 10, what="the polling tab to finish")
    assert dropped["connections"] >= 2, dropped
    flaky_modes = flaky.evaluate("window.__modes")
    assert "reconnecting" in flaky_modes, flaky_modes
    assert flaky_modes.index("reconnecting") < len(flaky_modes) - 1 - flaky_modes[::-1].index("live")
    assert counters_of(flaky) == expected
    assert "polling" in polling.evaluate("window.__modes")
    assert counters_of(polling) == expected

    # From the summary to the gallery: every media has a card, thumbnails load from their own URLs.
    page.click("#ma-gallery-link")
    page.wait_for_selector("#ma-gallery")
    assert page.locator("#ma-gallery li.ma-card").count() == min(IMAGES + BROKEN, gallery.PAGE_SIZE)
    assert page.is_visible("#ma-next")
    first = page.locator("#ma-gallery li.ma-card img").first
    first.scroll_into_view_if_needed()
    wait_until(lambda: first.evaluate("img => img.complete && img.naturalWidth > 0"), 10, what="the first thumbnail")
    assert f"{IMAGES + BROKEN} media in this land" in " ".join(page.text_content("#ma-gallery-count").split())
    save_screenshot(page, f"liveui-{name}-gallery.png", full_page=False)  # lazy thumbnails below the fold
    page.goto(f"{base}/admin/medianalyse/lands/{land.pk}/")
    page.wait_for_selector("#chart-formats")
    assert page.locator("svg.ma-chart").count() == 5
    save_screenshot(page, f"liveui-{name}-land.png")
    context.close()
