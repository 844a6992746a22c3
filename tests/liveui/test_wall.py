"""The image wall: its one validator, its orders, what it leaves out, its composed PNG, its queries."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.cache import cache
from django.test import AsyncRequestFactory
from PIL import Image

from lands.models import AnalysisStatus, Media
from media_analysis import stored
from media_analysis.models import ImageCluster
from media_analysis.web import gallery, wall
from media_analysis.web.admin import wall as wall_views
from tests.factories import CORPUS_READER, make_expression, make_land, make_media, make_staff, stored_key

pytestmark = pytest.mark.django_db

WALL = "/admin/medianalyse/wall/"
PNG = "/admin/medianalyse/wall.png"
SOURCES = re.compile(r"""\b(?:src|srcset|poster|data)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)

RED, ORANGE, GREEN, BLUE, GREY, BLACK = (
    (230, 20, 20),
    (240, 150, 20),
    (20, 200, 40),
    (20, 40, 230),
    (128, 128, 128),
    (5, 5, 5),
)


@pytest.fixture(autouse=True)
def fresh_cache():
    # The hue order is cached by selection: a test's land may have the ids and figures of an earlier one's.
    cache.clear()


@pytest.fixture(autouse=True)
def storage(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "medianalyse": {
            "BACKEND": "media_analysis.stored.ContentAddressedFileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "stored")},
        },
    }


def thumbnail(colour: tuple[int, int, int], size: tuple[int, int] = (80, 60), fmt: str = "JPEG") -> str:
    """A stored thumbnail of one flat colour; its key."""
    mode = "RGBA" if len(colour) == 4 else "RGB"
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, fmt, quality=95)
    sha = hashlib.sha256(repr((colour, size, fmt)).encode()).hexdigest()
    return stored.save_thumbnail(sha, buffer.getvalue(), size=320, extension="jpg" if fmt == "JPEG" else "webp")


def hexed(colour: tuple[int, ...]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*colour[:3])


def picture(page, colour: tuple[int, int, int] | None, **fields: Any) -> Media:
    values: dict[str, Any] = {
        "analysis_status": AnalysisStatus.DONE,
        "is_processed": True,
        "format": "JPEG",
        "width": 640,
        "height": 480,
        "thumbnail_key": thumbnail(colour) if colour else stored_key("no colour"),
        "dominant_colors": [{"hex": hexed(colour), "percentage": 80.0}] if colour else None,
    }
    values.update(fields)
    return make_media(page, **values)


@pytest.fixture
def land():
    """Six pictures of known colours and what the wall leaves out, over pages of known dates."""
    land = make_land("Walls")
    early = make_expression(land, published_at=datetime(2020, 1, 1, tzinfo=UTC))
    late = make_expression(land, published_at=datetime(2024, 1, 1, tzinfo=UTC))
    undated = make_expression(land, fetched_at=datetime(2022, 6, 1, tzinfo=UTC))
    media = {
        "blue": picture(early, BLUE, width=100, height=100),
        "red": picture(late, RED, width=2000, height=1000),
        "grey": picture(undated, GREY, width=300, height=300),
        "green": picture(late, GREEN, width=50, height=40, format="PNG"),
        "black": picture(early, BLACK, width=800, height=600),
        "orange": picture(undated, ORANGE, width=None, height=None),
    }
    # Left out: not analysed, failed without a thumbnail, refused now (an earlier thumbnail kept), a video.
    make_media(early)
    make_media(early, analysis_status=AnalysisStatus.FAILED, error_class="timeout")
    make_media(
        early,
        analysis_status=AnalysisStatus.FAILED,
        error_class="too_large",
        analysis_version=1,
        thumbnail_key=thumbnail((1, 2, 3)),
    )
    make_media(early, type="video", thumbnail_key=thumbnail((4, 5, 6)))
    cluster = ImageCluster.objects.create(land=land, key=media["red"].pk, size=2)
    other = ImageCluster.objects.create(land=land, key=media["blue"].pk, size=2)
    Media.objects.filter(pk__in=[media["red"].pk, media["grey"].pk]).update(cluster=cluster)
    Media.objects.filter(pk__in=[media["blue"].pk, media["black"].pk]).update(cluster=other)
    land.media = media
    land.cluster = cluster
    return land


def names(land, items: list[wall.WallItem]) -> list[str]:
    by_id = {media.pk: name for name, media in land.media.items()}
    return [by_id[item.media_id] for item in items]


def query(land, **fields: Any) -> wall.WallQuery:
    form = wall.WallQueryForm({"land": land.pk, **fields})
    assert form.is_valid(), form.problems()
    return form.wall_query()


# --- The form ---------------------------------------------------------------------------------------------


def test_the_form_gives_defaults_and_takes_the_gallery_filters(land):
    parsed = query(land)
    assert (parsed.sort, parsed.tile, parsed.page, parsed.max_media, parsed.columns) == ("hue", 64, 1, 1000, 40)
    parsed = query(land, sort=" size ", tile="32", page="2", format="png", min_width="10", max_media="50")
    assert (parsed.sort, parsed.tile, parsed.page, parsed.max_media) == ("size", 32, 2, 50)
    assert parsed.filters == gallery.GalleryFilters(format="PNG", min_width=10)
    assert "after" not in wall.WallQueryForm().fields


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"sort": "random"}, "sort"),
        ({"tile": "8"}, "tile"),
        ({"tile": "big"}, "tile"),
        ({"tile": "1000"}, "tile"),
        ({"page": "0"}, "page"),
        ({"columns": "500"}, "columns"),
        ({"max_media": "0"}, "max_media"),
        ({"max_media": "20000"}, "max_media"),  # over MEDIA_ANALYSIS_WALL_MAX_MEDIA
        ({"max_media": "9000", "tile": "256"}, "max_media"),  # over the pixel budget
        ({"format": "J<P>EG"}, "format"),
        ({"min_width": "-3"}, "min_width"),
        ({"status": "lost"}, "status"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(admin_client, land, params, named):
    for url in (WALL, PNG):
        response = admin_client.get(url, {"land": land.pk, **params})
        assert response.status_code == 400, (url, params)
        text = response.content.decode()
        assert f"\n{named}: " in text, text
    form = wall.WallQueryForm({"land": land.pk, **params})
    assert not form.is_valid()
    assert named in form.problems()


def test_a_land_or_a_cluster_is_required(admin_client, land):
    response = admin_client.get(WALL)
    assert response.status_code == 400
    assert "land: give either land or cluster" in response.content.decode()
    # Both: the cluster of that land (as the gallery's link sends a cluster filter), else not found.
    assert admin_client.get(WALL, {"land": land.pk, "cluster": land.cluster.pk}).status_code == 200
    other = make_land()
    assert admin_client.get(WALL, {"land": other.pk, "cluster": land.cluster.pk}).status_code == 404
    assert admin_client.get(WALL, {"land": 999_999}).status_code == 404
    assert admin_client.get(PNG, {"cluster": 999_999}).status_code == 404


def test_the_pixel_budget_follows_the_tile(land, settings):
    most = wall.MAX_PNG_PIXELS // (128 * 128)
    assert query(land, tile="128", max_media=str(most)).png_pixels[0] == 40 * 128
    form = wall.WallQueryForm({"land": land.pk, "tile": "128", "max_media": str(most + 1)})
    assert form.problems() == {"max_media": [f"max_media of 128 px tiles must be at most {most:,}"]}
    # Without max_media, the default fits the budget of the tile.
    assert query(land, tile="256").max_media == wall.MAX_PNG_PIXELS // (256 * 256)
    settings.MEDIA_ANALYSIS_WALL_MAX_MEDIA = 3
    assert query(land).max_media == 3
    assert "max_media" in wall.WallQueryForm({"land": land.pk, "max_media": "4"}).problems()


# --- What the wall shows, in which order ---------------------------------------------------------------


def test_hue_key_orders_colours_then_greys_then_unknown():
    def key(colour):
        return wall.hue_key([{"hex": hexed(colour)}])

    ordered = sorted([GREY, BLUE, (255, 255, 255), RED, BLACK, GREEN, ORANGE], key=key)
    assert ordered == [RED, ORANGE, GREEN, BLUE, BLACK, GREY, (255, 255, 255)]
    assert wall.hue_key(None) > key((255, 255, 255))
    assert wall.hue_key([{"rgb": [20, 200, 40]}]) == key(GREEN)
    assert wall.hue_key([{"hex": "url(javascript:1)"}, {"hex": "#ff0000"}]) == key((255, 0, 0))


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("hue", ["red", "orange", "green", "blue", "black", "grey"]),
        # The clusters by id (red's before blue's), each by member id, then media in no cluster.
        ("cluster", ["red", "grey", "blue", "black", "green", "orange"]),
        # published_at, else fetched_at: early (2020), undated (fetched 2022), late (2024).
        ("date", ["blue", "black", "grey", "orange", "red", "green"]),
        ("size", ["red", "black", "grey", "blue", "green", "orange"]),
    ],
)
def test_each_order(land, sort, expected):
    assert names(land, wall.wall_slice(query(land, sort=sort), 0, 100)) == expected
    assert names(land, wall.wall_slice(query(land, sort=sort), 2, 4)) == expected[2:4]


def test_filters_and_clusters_narrow_the_wall(land):
    assert names(land, wall.wall_slice(query(land, format="PNG"), 0, 100)) == ["green"]
    assert names(land, wall.wall_slice(query(land, min_width="700", sort="size"), 0, 100)) == ["red", "black"]
    form = wall.WallQueryForm({"cluster": land.cluster.pk})
    assert form.is_valid()
    assert names(land, wall.wall_slice(form.wall_query(), 0, 100)) == ["red", "grey"]


def test_pages_are_numbered_and_keep_the_parameters(land):
    page = wall.wall_page(query(land, sort="size", format="JPEG"), per_page=2)
    assert (page.total, page.pages, page.first_index, page.last_index) == (5, 3, 1, 2)
    assert page.previous_link is None
    assert page.next_link == f"?land={land.pk}&format=JPEG&sort=size&tile=64&page=2"
    last = wall.wall_page(query(land, sort="size", format="JPEG", page="3"), per_page=2)
    assert names(land, last.items) == ["orange"]
    assert last.next_link is None
    assert last.previous_link == f"?land={land.pk}&format=JPEG&sort=size&tile=64&page=2"
    beyond = wall.wall_page(query(land, page="9"), per_page=2)
    assert beyond.items == []


# --- The page --------------------------------------------------------------------------------------------


def test_the_page_shows_stored_thumbnails_only_in_order(admin_client, land):
    response = admin_client.get(WALL, {"land": land.pk, "sort": "hue", "tile": "48"})
    assert response.status_code == 200
    html = response.content.decode()
    sources = [src for src in SOURCES.findall(html) if not src.startswith("/static/")]
    expected = ["red", "orange", "green", "blue", "black", "grey"]
    assert sources == [f"/admin/medianalyse/stored/{land.media[name].thumbnail_key}" for name in expected]
    assert re.findall(r'data-media="(\d+)"', html) == [str(land.media[name].pk) for name in expected]
    assert 'width="48" height="48"' in html
    assert "cdn.example" not in html  # no crawled address, not even as a link
    assert "6 media with a stored thumbnail" in html
    assert "are left out, not shown as placeholders" in html
    png = re.search(r'id="ma-wall-png"', html) and re.search(r'href="(/admin/medianalyse/wall\.png\?[^"]+)"', html)
    assert png is not None
    assert png.group(1) == f"{PNG}?land={land.pk}&amp;sort=hue&amp;tile=48&amp;max_media=1000&amp;columns=40"
    assert "at most 1920&times;1200 pixels" in html


def test_query_counts_are_pinned(admin_client, land, django_assert_num_queries):
    for sort in wall.SORTS:
        with django_assert_num_queries(3):  # the figures, the order (then cached), the page's rows
            wall.wall_page(query(land, sort=sort))
        with django_assert_num_queries(2):  # the figures, then the page's rows
            wall.wall_page(query(land, sort=sort, page="1"))
        with django_assert_num_queries(2):
            wall.wall_slice(query(land, sort=sort), 2, 4)
    admin_client.get(WALL, {"land": land.pk, "sort": "date"})  # the session and the user's permissions, once
    # session, user, land, figures, rows
    with django_assert_num_queries(5):
        assert admin_client.get(WALL, {"land": land.pk, "sort": "date"}).status_code == 200
    with django_assert_num_queries(6):  # and the order, the first time a selection is seen in an order
        assert admin_client.get(WALL, {"cluster": land.cluster.pk}).status_code == 200
    with django_assert_num_queries(5):
        assert admin_client.get(WALL, {"cluster": land.cluster.pk, "page": "1"}).status_code == 200
    # session, user, land, figures, rows (the hue order is cached): the storage is read while streaming
    with django_assert_num_queries(5):
        response = admin_client.get(PNG, {"land": land.pk})
    with django_assert_num_queries(0):
        b"".join(response.streaming_content)


def test_a_cached_order_follows_reclustering(land):
    parsed = query(land, sort="cluster")
    assert names(land, wall.wall_slice(parsed, 0, 10)) == ["red", "grey", "blue", "black", "green", "orange"]
    Media.objects.filter(pk=land.media["green"].pk).update(cluster=land.cluster)
    assert names(land, wall.wall_slice(parsed, 0, 10)) == ["red", "grey", "green", "blue", "black", "orange"]


def test_links_to_the_wall(admin_client, land):
    html = admin_client.get(f"/admin/medianalyse/lands/{land.pk}/").content.decode()
    assert f'href="{WALL}?land={land.pk}" id="ma-wall-link"' in html
    html = admin_client.get(f"/admin/medianalyse/lands/{land.pk}/gallery/", {"format": "png"}).content.decode()
    assert f'href="{WALL}?land={land.pk}&amp;format=PNG" id="ma-wall-link"' in html
    # The gallery's own order is not the wall's: the link carries the filters only.
    html = admin_client.get(
        f"/admin/medianalyse/lands/{land.pk}/gallery/", {"format": "png", "sort": "size"}
    ).content.decode()
    assert f'href="{WALL}?land={land.pk}&amp;format=PNG" id="ma-wall-link"' in html
    html = admin_client.get(f"/admin/medianalyse/clusters/{land.cluster.pk}/").content.decode()
    assert f'href="{WALL}?cluster={land.cluster.pk}" id="mc-wall-link"' in html


def test_the_wall_needs_the_view_permission_on_media(client, land):
    lands_only = make_staff("lands-only", "lands.view_land")
    client.force_login(lands_only)
    for url in (WALL, PNG):
        assert client.get(url, {"land": land.pk}).status_code == 403
    assert "ma-wall-link" not in client.get(f"/admin/medianalyse/lands/{land.pk}/").content.decode()
    reader = make_staff("reader", *CORPUS_READER)
    client.force_login(reader)
    assert client.get(WALL, {"land": land.pk}).status_code == 200
    assert client.get(PNG, {"land": land.pk}).status_code == 200
    client.logout()
    assert client.get(WALL, {"land": land.pk}).status_code == 302  # to the login page


# --- The composed PNG -----------------------------------------------------------------------------------


def decoded(response) -> Image.Image:
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(b"".join(response.streaming_content)), formats=("PNG",))
    image.load()
    return image


def close_to(pixel: tuple[int, ...], colour: tuple[int, ...], tolerance: int = 12) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=True))


def test_the_png_is_the_wall_in_order(admin_client, land):
    response = admin_client.get(PNG, {"land": land.pk, "sort": "hue", "tile": "32", "columns": "4"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="wall-land-{land.pk}-hue.png"'
    image = decoded(response)
    assert image.size == (4 * 32, 2 * 32)
    assert image.mode == "RGB"
    expected = [RED, ORANGE, GREEN, BLUE, BLACK, GREY]
    for index, colour in enumerate(expected):
        row, column = divmod(index, 4)
        centre = (column * 32 + 16, row * 32 + 16)
        assert close_to(image.getpixel(centre), colour), (index, image.getpixel(centre), colour)
    # 80x60 thumbnails fitted in 32 px: 32x24, centred, white above and below; empty cells white.
    assert image.getpixel((16, 1)) == (255, 255, 255)
    assert close_to(image.getpixel((16, 5)), RED)
    assert image.getpixel((2 * 32 + 16, 32 + 16)) == (255, 255, 255)


def test_the_png_holds_at_most_max_media(admin_client, land):
    response = admin_client.get(PNG, {"land": land.pk, "sort": "size", "tile": "16", "max_media": "3"})
    image = decoded(response)
    assert image.size == (3 * 16, 16)
    assert close_to(image.getpixel((8, 8)), RED)


def test_a_cluster_png_and_an_empty_one(admin_client, land):
    response = admin_client.get(PNG, {"cluster": land.cluster.pk, "tile": "16"})
    assert response["Content-Disposition"] == (
        f'attachment; filename="wall-land-{land.pk}-cluster-{land.cluster.pk}-hue.png"'
    )
    image = decoded(response)
    assert image.size == (32, 16)
    assert close_to(image.getpixel((8, 8)), RED)
    assert close_to(image.getpixel((24, 8)), GREY)
    empty = decoded(admin_client.get(PNG, {"land": land.pk, "format": "GIF", "tile": "16"}))
    assert empty.size == (16, 16)
    assert empty.getpixel((8, 8)) == (255, 255, 255)


def test_transparent_and_missing_thumbnails(land):
    page = make_expression(land)
    see_through = picture(page, None, thumbnail_key=thumbnail((0, 0, 255, 0), fmt="WEBP"))
    gone = picture(page, None)  # a well-formed key with no file behind it
    png = b"".join(
        wall.compose_png(
            [see_through.thumbnail_key, gone.thumbnail_key, land.media["green"].thumbnail_key], tile=20, columns=3
        )
    )
    image = Image.open(io.BytesIO(png))
    assert image.size == (60, 20)
    assert image.getpixel((10, 10)) == (255, 255, 255)  # transparent: the background shows
    assert image.getpixel((30, 10)) == (255, 255, 255)  # missing: a white cell
    assert close_to(image.getpixel((50, 10)), GREEN)


def test_the_hue_order_follows_new_analyses_and_drops_what_left(land):
    parsed = query(land, sort="hue")
    assert names(land, wall.wall_slice(parsed, 0, 3)) == ["red", "orange", "green"]
    # Analysed again: the first colour is now blue, and values_at moves, so the cached order is not used.
    Media.objects.filter(pk=land.media["red"].pk).update(
        dominant_colors=[{"hex": hexed(BLUE)}], values_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert names(land, wall.wall_slice(parsed, 0, 4)) == ["orange", "green", "blue", "red"]  # same hue: by id
    # Refused since, and the cache still holding an order with it (as if under the new figures' key):
    # the slice's rows are read through the wall's filters, so it is left out all the same.
    stale = wall.wall_order(parsed, wall.wall_queryset(parsed), wall.selection_figures(wall.wall_queryset(parsed)))
    assert land.media["orange"].pk in stale
    Media.objects.filter(pk=land.media["orange"].pk).update(error_class="too_large")
    figures = wall.selection_figures(wall.wall_queryset(parsed))
    cache.set(wall._order_cache_key(parsed, figures), stale.tobytes())
    assert names(land, wall.wall_slice(parsed, 0, 10)) == ["green", "blue", "red", "black", "grey"]


def test_under_asgi_the_png_streams_from_an_asynchronous_iterator(land, admin_user):
    # Django would read a synchronous iterator whole before sending anything to an ASGI server.
    request = AsyncRequestFactory().get(PNG, {"land": land.pk, "tile": "16", "columns": "3"})
    request.user = admin_user
    response = wall_views.wall_png_view(request)
    assert response.is_async

    async def collect() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    image = Image.open(io.BytesIO(asyncio.run(collect())), formats=("PNG",))
    assert image.size == (48, 32)
    assert close_to(image.getpixel((8, 8)), RED)
