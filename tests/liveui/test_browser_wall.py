"""The image wall in a real browser, with the crawled site gone, down to the PNG it downloads.

A land of flat-coloured pictures is analysed from a local origin server, which
is then stopped. Daphne serves the admin; Chromium may reach nothing but Daphne.
From the land page, the "Image wall" link opens the wall: every thumbnail is a
stored one and decodes, in hue order; the order is changed to size with the form;
the PNG is downloaded with a smaller tile, decoded, and each cell holds its
picture's colour.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
import requests
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connections
from PIL import Image

from lands.models import Media
from media_analysis.jobs.batch import analyse_media
from tests.factories import make_expression, make_land
from tests.liveui.test_browser_thumbnails import Traffic, load_every_image
from tests.support.browser import save_screenshot
from tests.support.http_server import Reply

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-password-wall"
# In hue order, then a grey; each picture a little wider than the one before it.
COLOURS = [
    (220, 30, 30),
    (230, 140, 20),
    (220, 210, 30),
    (30, 180, 60),
    (30, 190, 200),
    (30, 60, 210),
    (140, 40, 200),
    (220, 40, 150),
    (128, 128, 128),
]
SHUFFLED = [4, 0, 8, 2, 6, 1, 7, 3, 5]  # the order the pages list them in
TILE = 32


@pytest.fixture(autouse=True)
def fast_password_hashing():
    """The server checks the password with the production hasher: keep it."""


def flat_jpeg(colour: tuple[int, int, int], width: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, 160), colour).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


@pytest.fixture
def coloured_land(http_server, settings, tmp_path):
    """Nine flat pictures and a broken file, analysed from the origin server, which is then stopped."""
    settings.STORAGES = {
        **settings.STORAGES,
        "medianalyse": {
            "BACKEND": "media_analysis.stored.ContentAddressedFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "var" / "stored")},  # the child's VAR_DIR (child_env)
        },
    }
    land = make_land("Colour wall")
    page = make_expression(land)
    urls = [
        http_server.route(f"/flat/{index}.jpg", Reply(body=flat_jpeg(COLOURS[index], 200 + 20 * index)))
        for index in SHUFFLED
    ]
    urls.append(http_server.route("/broken.jpg", Reply(body=b"<html>gone</html>", content_type="text/html")))
    Media.objects.bulk_create(Media(expression=page, url=url) for url in urls)
    result = analyse_media(list(Media.objects.of_land(land.pk).values_list("pk", flat=True)))
    assert (result.analysed, result.failed) == (len(COLOURS), 1)
    http_server.stop()
    with pytest.raises(requests.RequestException):
        requests.get(urls[0], timeout=2)
    by_url = dict(Media.objects.of_land(land.pk).values_list("url", "pk"))
    land.ids = {index: by_url[url] for index, url in zip(SHUFFLED, urls, strict=False)}  # colour index -> media id
    return land


def test_the_wall_with_the_origin_stopped_and_its_png(
    coloured_land,
    server,
    browser,
):
    try:
        browse_wall(coloured_land, server, browser)
    finally:
        connections.close_all()


def shown_ids(page) -> list[int]:
    values = page.eval_on_selector_all("#ma-wall li", "items => items.map(i => i.dataset.media)")
    return [int(value) for value in values]


def browse_wall(land, base: str, chromium) -> None:
    hasher = PBKDF2PasswordHasher()
    admin = get_user_model().objects.create_superuser("waller", "waller@example.org", None)
    admin.password = hasher.encode(PASSWORD, hasher.salt())
    admin.save(update_fields=["password"])
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(15_000)
    traffic = Traffic(base)
    context.route("**/*", traffic.route)
    page = context.new_page()
    page.goto(f"{base}/admin/login/?next=/admin/medianalyse/lands/{land.pk}/")
    page.fill("#id_username", "waller")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#ma-wall-link")

    page.click("#ma-wall-link")
    page.wait_for_selector("#ma-wall")
    assert shown_ids(page) == [land.ids[index] for index in range(len(COLOURS))]  # hue order, greys last
    assert load_every_image(page) == len(COLOURS)  # the broken file is left out
    sources = page.evaluate("() => [...document.images].map(img => img.getAttribute('src'))")
    assert all(src.startswith("/admin/medianalyse/stored/thumbnails/") for src in sources), sources
    assert page.locator("#ma-wall-count").inner_text().startswith(f"{len(COLOURS)} media with a stored thumbnail")

    page.select_option("#ma-wall-sort", "size")
    page.select_option("#ma-wall-tile", str(TILE))
    page.click("#ma-wall-form input[type=submit]")
    page.wait_for_url("**sort=size**")
    assert shown_ids(page) == [land.ids[index] for index in reversed(range(len(COLOURS)))]  # widest first
    load_every_image(page)
    save_screenshot(page, "liveui-wall.png", full_page=False)

    with page.expect_download() as download_info:
        page.click("#ma-wall-png")
    download = download_info.value
    assert download.suggested_filename == f"wall-land-{land.pk}-size.png"
    with open(download.path(), "rb") as handle:
        image = Image.open(io.BytesIO(handle.read()), formats=("PNG",))
        image.load()
    assert image.size == (len(COLOURS) * TILE, TILE)
    for cell, index in enumerate(reversed(range(len(COLOURS)))):
        pixel: Any = image.getpixel((cell * TILE + TILE // 2, TILE // 2))
        assert all(abs(a - b) <= 12 for a, b in zip(pixel, COLOURS[index], strict=True)), (cell, pixel)
    assert traffic.blocked == []  # nothing ever tried to reach the crawled site
    context.close()
