"""Finding a picture by the words it carries, in a real browser.

A land of pictures whose text was read (the OCR step's rows, written directly);
Daphne serves the admin, Chromium drives it. The land page lists its frequent
words, each a link to the gallery; the gallery's "Words in the picture" box
finds the one picture whose text holds both words typed, and shows its text.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connections

from tests.factories import make_expression, make_land, make_media, make_text
from tests.support.browser import save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "browser-password-text"


@pytest.fixture(autouse=True)
def fast_password_hashing():
    """The server checks the password with the production hasher: keep it."""


@pytest.fixture
def captioned_land():
    land = make_land("Protest signs")
    page = make_expression(land, title="A march")
    pictures = {
        "sign": make_media(page, url="https://signs.example/sign.jpg", format="JPEG", width=800, height=600),
        "banner": make_media(page, url="https://signs.example/banner.jpg", format="JPEG", width=1200, height=300),
        "photo": make_media(page, url="https://signs.example/photo.jpg", format="JPEG", width=640, height=480),
    }
    make_text(pictures["sign"], "Système climatique:\nnot for sale")
    make_text(pictures["banner"], "Climate is not a commodity")
    make_text(pictures["photo"], "", status="skipped", language="", confidence=None, text_area=None)
    land.pictures = {name: media.pk for name, media in pictures.items()}
    return land


def test_search_a_word_in_the_gallery_and_find_the_picture(captioned_land, server, browser):
    try:
        search_gallery(captioned_land, server, browser)
    finally:
        connections.close_all()


def shown_ids(page) -> list[int]:
    values = page.eval_on_selector_all("#ma-gallery li.ma-card", "items => items.map(i => i.dataset.media)")
    return [int(value) for value in values]


def search_gallery(land, base: str, chromium) -> None:
    hasher = PBKDF2PasswordHasher()
    admin = get_user_model().objects.create_superuser("reader", "reader@example.org", None)
    admin.password = hasher.encode(PASSWORD, hasher.salt())
    admin.save(update_fields=["password"])
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{base}/admin/login/?next=/admin/medianalyse/lands/{land.pk}/")
    page.fill("#id_username", "reader")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")

    # The land page's frequent words: "not" is on two pictures, and links to their gallery.
    page.wait_for_selector("#ma-frequent-words")
    page.click("#ma-frequent-words a:text-is('not')")
    page.wait_for_url("**/gallery/?text=not")
    assert sorted(shown_ids(page)) == sorted([land.pictures["sign"], land.pictures["banner"]])

    # Two words typed in another case: only the picture holding both.
    page.fill("#ma-text-search", "SALE climatique")
    page.click("#ma-gallery-filters input[type=submit]")
    page.wait_for_url("**text=SALE+climatique**")
    assert shown_ids(page) == [land.pictures["sign"]]
    card = page.locator(f"li.ma-card[data-media='{land.pictures['sign']}']")
    assert "Système climatique" in card.locator(".ma-ocr-text").inner_text()
    assert page.locator("#ma-gallery-count").inner_text().startswith("1 media match these filters")
    save_screenshot(page, "liveui-text-search.png", full_page=False)

    # A word no picture carries: nothing, said plainly.
    page.fill("#ma-text-search", "elephant")
    page.click("#ma-gallery-filters input[type=submit]")
    page.wait_for_url("**text=elephant**")
    assert shown_ids(page) == []
    assert "No media to show with these filters" in page.content()
    context.close()
