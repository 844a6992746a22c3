"""The gallery and the cluster pages in a real browser, with the crawled sites gone.

A land is analysed from a local origin server, which is then stopped. Daphne
serves the admin; Chromium (Playwright) may reach nothing but Daphne: every
other request is aborted and recorded. The gallery's 48 cards must show their
stored thumbnails (each image decoded, naturalWidth > 0) for less than 1 MB in
all, counted from the responses, and no page may even try a crawled URL.
"""

from __future__ import annotations

import io
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connections
from PIL import Image

from lands.models import Media
from media_analysis.clusters import compute
from media_analysis.jobs.batch import analyse_media
from media_analysis.models import ImageCluster
from media_analysis.web import gallery
from tests.factories import make_expression, make_land
from tests.support.browser import save_screenshot
from tests.support.http_server import Reply
from tests.support.processes import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-password-2"
PICTURES = 52
COPIES = 3  # one large photo on several pages: a cluster
BUDGET = 1024 * 1024


@pytest.fixture(autouse=True)
def fast_password_hashing():
    """The server checks the password with the production hasher: keep it."""


def photos() -> list[Image.Image]:
    from sklearn.datasets import load_sample_image

    return [Image.fromarray(load_sample_image(name)) for name in ("china.jpg", "flower.jpg")]


def large_photo() -> bytes:
    image = photos()[0].resize((2400, 1600))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def photo_crop(sources: list[Image.Image], index: int) -> tuple[bytes, str]:
    """A crop of a real photo, resized to a size the web serves (300 to 1500 px wide), JPEG or PNG."""
    source = sources[index % 2]
    left, top = (index * 23) % 200, (index * 17) % 120
    crop = source.crop((left, top, left + 420, top + 300))
    width = 300 + (index * 97) % 1200
    image = crop.resize((width, width * 300 // 420))
    buffer = io.BytesIO()
    if index % 5 == 0:
        image.save(buffer, format="PNG")
        return buffer.getvalue(), "image/png"
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue(), "image/jpeg"


@pytest.fixture
def analysed_land(http_server, settings, tmp_path):
    """A land analysed from the origin server, whose thumbnails are where the server will look."""
    settings.STORAGES = {
        **settings.STORAGES,
        "medianalyse": {
            "BACKEND": "media_analysis.stored.ContentAddressedFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "var" / "stored")},  # the child's VAR_DIR (child_env)
        },
    }
    land = make_land("Offline land")
    pages = [make_expression(land, depth=d % 3, relevance=1 + d) for d in range(4)]
    urls = []
    photo = large_photo()
    for copy in range(COPIES):
        urls.append(http_server.route(f"/photo/{copy}.jpg", Reply(body=photo, content_type="image/jpeg")))
    sources = photos()
    for index in range(PICTURES):
        body, content_type = photo_crop(sources, index)
        urls.append(http_server.route(f"/img/{index}", Reply(body=body, content_type=content_type)))
    urls.append(http_server.route("/broken.jpg", Reply(body=b"<html>moved</html>", content_type="text/html")))
    Media.objects.bulk_create(Media(expression=pages[i % len(pages)], url=url) for i, url in enumerate(urls))
    result = analyse_media(list(Media.objects.of_land(land.pk).values_list("pk", flat=True)))
    # The copies of the photo, the same bytes, copy the first one's analysis.
    assert (result.analysed, result.reused, result.failed) == (1 + PICTURES, COPIES - 1, 1)
    compute.recluster_land(land.pk)
    http_server.stop()  # the crawled site is gone
    with pytest.raises(requests.RequestException):
        requests.get(urls[0], timeout=2)
    return land


def test_gallery_and_cluster_pages_show_stored_thumbnails_with_the_origin_stopped(
    analysed_land,
    server,
    browser,
):
    try:
        browse_offline(analysed_land, server, browser)
    finally:
        connections.close_all()


class Traffic:
    """Bytes of every response the page received, and every request that tried to leave the server."""

    def __init__(self, base: str) -> None:
        self.origin = urlsplit(base).netloc
        self.blocked: list[str] = []
        self.bytes = 0
        self.images = 0

    def route(self, route) -> None:
        if urlsplit(route.request.url).netloc == self.origin:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def count(self, response) -> None:
        try:
            body = len(response.body())
        except Exception:  # a redirect has no body
            body = 0
        self.bytes += body + sum(len(k) + len(v) + 4 for k, v in response.headers.items())
        if response.request.resource_type == "image":
            self.images += 1


def all_images_loaded(page) -> bool:
    return page.evaluate("() => [...document.images].every(img => img.complete && img.naturalWidth > 0)")


def load_every_image(page) -> int:
    # The thumbnails are lazy: bring each into view, then wait until every one is decoded.
    count = page.locator("img").count()
    for index in range(count):
        page.locator("img").nth(index).scroll_into_view_if_needed()
    wait_until(lambda: all_images_loaded(page), 15, what="every image to load")
    return count


def browse_offline(land, base: str, chromium) -> None:
    hasher = PBKDF2PasswordHasher()
    admin = get_user_model().objects.create_superuser("offline", "offline@example.org", None)
    admin.password = hasher.encode(PASSWORD, hasher.salt())
    admin.save(update_fields=["password"])
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    traffic = Traffic(base)
    context.route("**/*", traffic.route)
    page = context.new_page()
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", "offline")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()

    page.on("response", traffic.count)
    page.goto(f"{base}/admin/medianalyse/lands/{land.pk}/gallery/")
    page.wait_for_selector("#ma-gallery")
    assert page.locator("#ma-gallery li.ma-card").count() == gallery.PAGE_SIZE
    shown = load_every_image(page)
    assert shown >= gallery.PAGE_SIZE - 1  # the broken file shows its placeholder instead
    assert page.locator(".ma-placeholder").count() == gallery.PAGE_SIZE - shown
    sources = page.evaluate("() => [...document.images].map(img => img.getAttribute('src'))")
    assert all(src.startswith("/admin/medianalyse/stored/thumbnails/") for src in sources), sources
    # Copies of one picture share one stored file: the browser fetches it once.
    assert len(set(sources)) <= traffic.images <= shown
    print(f"gallery: {gallery.PAGE_SIZE} cards, {shown} thumbnails, {traffic.bytes} bytes transferred")
    assert traffic.bytes < BUDGET
    save_screenshot(page, "liveui-offline-gallery.png", full_page=False)

    cluster = ImageCluster.objects.filter(land=land, members__url__contains="/photo/").distinct().get()
    for path in (f"/admin/medianalyse/clusters/lands/{land.pk}/", f"/admin/medianalyse/clusters/{cluster.pk}/"):
        page.goto(f"{base}{path}")
        assert load_every_image(page) >= COPIES
    save_screenshot(page, "liveui-offline-cluster.png", full_page=False)
    assert traffic.blocked == []  # nothing ever tried to reach a crawled site
    context.close()
