"""A researcher's day in a real browser: a view-only colleague, a split confirmed then reverted,
the gallery's filters, and a 520-member cluster read page by page.

Daphne serves the admin on the test database; Chromium (Playwright) may reach nothing but Daphne.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import connections

from lands.models import Expression, Media
from media_analysis.models import ClusterCorrection, ImageCluster
from tests.clusters.conftest import partition
from tests.factories import grant
from tests.support.big_cluster import build_big_cluster
from tests.support.browser import save_screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "pages-password-3"


@pytest.fixture(autouse=True)
def fast_password_hashing():
    """The server checks the password with the production hasher: keep it."""


def make_user(username: str, *, superuser: bool = False, permissions: tuple[str, ...] = ()):
    hasher = PBKDF2PasswordHasher()
    users = get_user_model()
    if superuser:
        user = users.objects.create_superuser(username, f"{username}@example.org", None)
    else:
        user = users.objects.create_user(username, f"{username}@example.org", None, is_staff=True)
        grant(user, *permissions)
    user.password = hasher.encode(PASSWORD, hasher.salt())
    user.save(update_fields=["password"])
    return user


def log_in(chromium, base: str, username: str, blocked: list[str]):
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15_000)
    origin = urlsplit(base).netloc

    def route(request_route) -> None:
        if urlsplit(request_route.request.url).netloc == origin:
            request_route.continue_()
        else:
            blocked.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.goto(f"{base}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    return context, page


def test_a_researchers_day_in_the_admin(server, browser):
    try:
        walk(server, browser)
    finally:
        connections.close_all()


def walk(base: str, chromium) -> None:
    small_land, small = build_big_cluster(8, domains=3, name="Small land")
    reds = list(Media.objects.filter(cluster=small).order_by("pk").values_list("pk", flat=True)[:3])
    Media.objects.filter(pk__in=reds).update(
        dominant_colors=[{"rgb": [210, 40, 30], "hex": "#d2281e", "percentage": 70.0}]
    )
    _big_land, big = build_big_cluster(520, domains=12, name="Big land")
    # Rows as wide as real ones: long URLs and titles, five colours, a failure keeping earlier values.
    widest = list(Media.objects.filter(cluster=big).order_by("pk").values_list("pk", "expression_id")[:5])
    for pk, page_id in widest:
        Expression.objects.filter(pk=page_id).update(
            title="Un titre de page tres long comme en ecrivent les sites de presse regionale " * 2
        )
        Media.objects.filter(pk=pk).update(
            url=f"https://static.regional-newspaper-long-name.example/uploads/2024/06/{pk}-photo-{'x' * 60}.jpeg",
            dominant_colors=[{"rgb": [i * 40, 90, 200 - i * 30], "percentage": 20.0} for i in range(5)],
            analysis_status="failed",
            error_class="decompression_bomb",
            analysis_version=2,
            values_at=datetime(2025, 1, 2, tzinfo=UTC),
        )
    make_user("colleague", permissions=("lands.view_land", "lands.view_media"))
    make_user("researcher", superuser=True)
    blocked: list[str] = []

    # --- A view-only colleague sees everything and can change nothing ------------------------------
    context, page = log_in(chromium, base, "colleague", blocked)
    page.goto(f"{base}/admin/medianalyse/clusters/{small.pk}/")
    assert page.locator("#mc-members li").count() == 8
    assert page.locator("input[name=members]").count() == 0
    assert page.locator("#mc-split, #mc-merge-form, .mc-undo-form").count() == 0
    page.goto(f"{base}/admin/lands/media/?expression__land__id__exact={small_land.pk}")
    assert page.locator("#result_list tbody tr").count() == 8
    page.goto(f"{base}/admin/lands/media/{reds[0]}/change/")
    assert page.locator("input[name=url]").count() == 0
    assert page.locator("input[type=submit][name=_save]").count() == 0
    context.close()

    # --- The researcher: the media list fits 1440 px with the sidebar open --------------------------
    context, page = log_in(chromium, base, "researcher", blocked)
    page.goto(f"{base}/admin/lands/media/")
    assert page.locator("#nav-sidebar").is_visible()
    # Neither the window nor the list's own box scrolls sideways: every column is in view.
    overflow = page.evaluate(
        """() => {
            const results = document.querySelector("#changelist .results");
            return Math.max(document.documentElement.scrollWidth - window.innerWidth,
                            results.scrollWidth - results.clientWidth);
        }"""
    )
    widths = page.eval_on_selector_all(
        "#result_list thead th",
        "cells => cells.map(c => [c.textContent.trim(), Math.round(c.getBoundingClientRect().width)])",
    )
    assert overflow <= 0, f"the media list is {overflow} px too wide: {widths}"
    save_screenshot(page, "liveui-pages-media-list.png", full_page=False)

    # --- A split, confirmed, then reverted ---------------------------------------------------------------
    before = partition(small_land.pk)
    page.goto(f"{base}/admin/medianalyse/clusters/{small.pk}/")
    boxes = page.locator("input[name=members]")
    boxes.nth(5).check()
    boxes.nth(6).check()
    page.click("#mc-split")
    page.wait_for_selector("#mc-confirm")
    assert page.locator("#mc-confirm .mc-thumbs li").count() == 2
    assert partition(small_land.pk) == before  # nothing happens before the confirmation
    save_screenshot(page, "liveui-pages-split-confirm.png", full_page=False)
    page.click("#mc-confirm-yes")
    page.wait_for_selector(".messagelist")
    assert "Members detached" in page.locator(".messagelist").inner_text()
    correction = ClusterCorrection.objects.get()
    assert partition(small_land.pk) != before
    new_clusters = [pk for pk in correction.result_clusters if pk != small.pk]
    if new_clusters:
        assert page.locator(f'.messagelist a[href$="/clusters/{new_clusters[0]}/"]').count() == 1
    row = page.locator(f'.mc-correction[data-correction="{correction.pk}"]')
    assert row.locator(".mc-thumbs li").count() == 2
    save_screenshot(page, "liveui-pages-split-done.png", full_page=False)
    row.locator("input[type=submit]").click()
    page.wait_for_selector(".messagelist")
    assert f"Split {correction.pk} reverted" in page.locator(".messagelist").inner_text()
    assert partition(small_land.pk) == before
    assert page.locator(f'.mc-correction[data-correction="{correction.pk}"]').inner_text().count("Reverted by") == 1

    # --- The gallery's filters --------------------------------------------------------------------------
    page.goto(f"{base}/admin/medianalyse/lands/{small_land.pk}/gallery/")
    assert page.locator("#ma-gallery li.ma-card").count() == 8
    card = page.locator("#ma-gallery li.ma-card").first
    assert card.locator(".ma-domain a").count() == 1
    assert card.locator(".ma-cluster a").count() == 1
    page.select_option("select[name=colour]", "red")
    page.click("#ma-gallery-filters input[type=submit]")
    page.wait_for_selector("#ma-gallery-count")
    assert page.locator("#ma-gallery li.ma-card").count() == 3
    page.locator("#ma-gallery li.ma-card .ma-domain a").first.click()
    page.wait_for_selector("#ma-gallery")
    domain = page.locator("select[name=domain]").input_value()
    card_domain = page.locator("#ma-gallery li.ma-card .ma-domain a").all_inner_texts()
    assert domain
    assert len(set(card_domain)) == 1
    page.select_option("select[name=sort]", "size")
    page.select_option("select[name=has_gps]", "no")
    page.click("#ma-gallery-filters input[type=submit]")
    page.wait_for_selector("#ma-gallery")
    sizes = [
        Media.objects.get(pk=int(pk)).file_size or 0
        for pk in page.eval_on_selector_all("#ma-gallery li.ma-card", "cards => cards.map(c => c.dataset.media)")
    ]
    assert sizes == sorted(sizes, reverse=True)
    response = page.goto(f"{base}/admin/medianalyse/lands/{small_land.pk}/gallery/?colour=mauve")
    assert response is not None
    assert response.status == 400
    assert "colour" in page.locator("#ma-gallery-errors").inner_text()
    save_screenshot(page, "liveui-pages-gallery-400.png", full_page=False)

    # --- A 520-member cluster, page by page --------------------------------------------------------------
    page.goto(f"{base}/admin/medianalyse/clusters/{big.pk}/")
    assert page.locator("#mc-members li").count() == 200
    assert "Members 1 to 200 of 520" in page.locator("#mc-members-title").inner_text()
    assert page.locator("#mc-distances-partial").is_visible()
    chart = page.locator("#mc-timeline-chart svg")
    assert chart.is_visible()
    assert chart.locator("circle.published").count() + chart.locator("circle.fetched").count() == 520
    save_screenshot(page, "liveui-pages-big-cluster.png", full_page=False)
    seen = set(page.eval_on_selector_all("#mc-members li", "items => items.map(i => i.dataset.media)"))
    for number, expected in ((2, 200), (3, 120)):
        page.locator("#mc-member-pages .mc-members-next").click()
        page.wait_for_url(f"**/clusters/{big.pk}/?page={number}")
        ids = page.eval_on_selector_all("#mc-members li", "items => items.map(i => i.dataset.media)")
        assert len(ids) == expected
        assert not seen.intersection(ids)
        seen.update(ids)
    assert len(seen) == 520
    assert ImageCluster.objects.filter(pk=big.pk, size=520).exists()
    context.close()
    assert blocked == []  # no page tried to load anything from another site
