"""The gallery: validated filters, keyset pages, a query count that does not grow, land figures."""

from __future__ import annotations

import pytest
from django.urls import reverse

from lands.models import AnalysisStatus, Media
from media_analysis.web import charts, gallery
from tests.factories import make_expression, make_land, make_media

pytestmark = pytest.mark.django_db


def gallery_url(land) -> str:
    return reverse("medianalyse:land-gallery", args=[land.pk])


def shown_ids(response) -> list[int]:
    return [item["media"].pk for item in response.context["items"]]


def add_media(land, n: int, **fields) -> list[Media]:
    page = make_expression(land)
    return Media.objects.bulk_create(
        Media(expression=page, url=f"https://img.example/{land.pk}/{i}-{id(page)}.jpg", **fields) for i in range(n)
    )


@pytest.mark.parametrize(
    ("query", "expected_formats"),
    [
        ({"format": "jpeg"}, ["JPEG", "JPEG", "JPEG"]),
        ({"format": "PNG"}, ["PNG"]),
        ({"min_width": "500"}, ["JPEG", "JPEG"]),
        ({"max_width": "300", "min_height": "100"}, ["PNG"]),
        ({"max_height": "100"}, ["JPEG"]),
        ({"conforming": "no"}, ["JPEG"]),
        ({"conforming": "yes", "format": "JPEG"}, ["JPEG", "JPEG"]),
        ({"status": "failed"}, [None]),
        ({"error_class": "timeout"}, [None]),
        ({"status": "pending"}, [None]),
    ],
)
def test_filters_narrow_the_gallery(admin_client, land, query, expected_formats):
    response = admin_client.get(gallery_url(land), query)
    assert response.status_code == 200
    assert [item["media"].format for item in response.context["items"]] == expected_formats
    assert response.context["page"].matched == len(expected_formats)
    assert not response.context["errors"]


def test_unknown_conformity_matches_media_never_judged(admin_client, land):
    response = admin_client.get(gallery_url(land), {"conforming": "unknown"})
    assert {item["media"].is_conforming for item in response.context["items"]} == {None}
    assert len(response.context["items"]) == 2


@pytest.mark.parametrize(
    ("query", "field", "fragment"),
    [
        ({"min_width": "wide"}, "min_width", "whole number"),
        ({"max_height": "-4"}, "max_height", "between 0"),
        ({"min_width": "900", "max_width": "100"}, "min_width", "larger than"),
        ({"format": "jp<e>g"}, "format", "unknown format"),
        ({"format": "JPEG2"}, "format", "unknown format"),
        ({"domain": "x"}, "domain", "domain id"),
        ({"cluster": "0"}, "cluster", "cluster id"),
        ({"appeared_from": "yesterday"}, "appeared_from", "date YYYY-MM-DD"),
        ({"appeared_from": "2024-02-01", "appeared_to": "2024-01-01"}, "appeared_from", "later than"),
        ({"colour": "mauve"}, "colour", "must be one of"),
        ({"has_exif": "maybe"}, "has_exif", "yes or no"),
        ({"has_gps": "1"}, "has_gps", "yes or no"),
        ({"sort": "random"}, "sort", "must be one of"),
        ({"status": "lost"}, "status", "must be one of"),
        ({"error_class": "gremlins"}, "error_class", "unknown error class"),
        ({"conforming": "maybe"}, "conforming", "must be one of"),
        ({"type": "pdf"}, "type", "must be one of"),
        ({"after": "abc"}, "after", "media id"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_parameter(admin_client, land, query, field, fragment):
    response = admin_client.get(gallery_url(land), query)
    assert response.status_code == 400
    assert fragment in response.context["errors"][field][0]
    content = response.content.decode()
    assert f"<li><code>{field}</code>: " in content
    # Nothing is shown rather than a page silently widened.
    assert response.context["items"] == []


def test_after_and_before_together_are_refused(admin_client, land):
    ids = sorted(Media.objects.of_land(land.pk).values_list("pk", flat=True))
    response = admin_client.get(gallery_url(land), {"after": ids[1], "before": ids[3]})
    assert response.status_code == 400
    assert "either" in response.context["errors"]["before"][0]


def test_gallery_cards_show_thumbnail_swatches_and_details(admin_client, land):
    html = admin_client.get(gallery_url(land), {"format": "JPEG", "min_width": "600", "max_width": "700"}).content
    html = html.decode()
    assert '<img src="/admin/medianalyse/stored/thumbnails/320/' in html
    assert 'loading="lazy" referrerpolicy="no-referrer" width="160" height="160"' in html
    assert 'style="background:#ff0000" title="#ff0000 (60.0%)"' in html
    assert "640&times;480" in html
    assert "JPEG" in html
    assert '<span class="ma-badge ma-status-done">Done</span>' in html


def test_hostile_colours_never_reach_a_style_attribute():
    assert gallery.swatches([{"hex": "red;background:url(x)"}, {"rgb": [0, 128, 255], "percentage": 3}]) == [
        ("#0080ff", 3.0)
    ]
    assert gallery.swatches("not a list") == []


def test_keyset_pages_walk_forward_and_back(admin_client):
    land = make_land()
    created = add_media(land, 2 * gallery.PAGE_SIZE + 5)
    ids = sorted(m.pk for m in Media.objects.of_land(land.pk))
    assert len(ids) == len(created)
    first = admin_client.get(gallery_url(land))
    page = first.context["page"]
    assert shown_ids(first) == ids[: gallery.PAGE_SIZE]
    assert page.has_next
    assert not page.has_previous
    second = admin_client.get(gallery_url(land) + page.next_link)
    assert shown_ids(second) == ids[gallery.PAGE_SIZE : 2 * gallery.PAGE_SIZE]
    third = admin_client.get(gallery_url(land) + second.context["page"].next_link)
    assert shown_ids(third) == ids[2 * gallery.PAGE_SIZE :]
    assert not third.context["page"].has_next
    back = admin_client.get(gallery_url(land) + third.context["page"].previous_link)
    assert shown_ids(back) == ids[gallery.PAGE_SIZE : 2 * gallery.PAGE_SIZE]
    assert back.context["page"].has_previous
    assert back.context["page"].has_next


def test_page_links_keep_the_filters(land):
    query = gallery.GalleryQueryForm({"format": "png", "min_width": "10"})
    assert not query.problems()
    filters = query.filters()
    page = gallery.GalleryPage(
        items=list(Media.objects.all()[:2]),
        has_next=True,
        has_previous=True,
        matched=2,
        matched_capped=False,
        filters=filters,
    )
    assert page.next_link.startswith("?format=PNG&min_width=10&after=")


def test_capped_count_stops_at_the_cap(land):
    assert gallery.capped_count(Media.objects.of_land(land.pk), cap=10) == (6, False)
    assert gallery.capped_count(Media.objects.of_land(land.pk), cap=4) == (4, True)


def test_gallery_query_count_does_not_grow_with_the_land(admin_client, django_assert_num_queries):
    land = make_land()
    add_media(land, 5, format="JPEG", width=10, height=10, dominant_colors=[{"hex": "#123456", "percentage": 9}])
    admin_client.get(gallery_url(land))  # session and permission caches warm
    # session, user, land, the land's share of all media (lands.aggregates.is_dense_land), one page,
    # one capped count, the land's domains
    with django_assert_num_queries(7):
        small = admin_client.get(gallery_url(land), {"format": "JPEG"})
    add_media(land, 3 * gallery.PAGE_SIZE, format="JPEG", width=10, height=10)
    with django_assert_num_queries(7):
        large = admin_client.get(gallery_url(land), {"format": "JPEG"})
    with django_assert_num_queries(7):
        admin_client.get(gallery_url(land) + large.context["page"].next_link)
    assert len(small.context["items"]) == 5
    assert len(large.context["items"]) == gallery.PAGE_SIZE
    assert large.context["page"].matched == 5 + 3 * gallery.PAGE_SIZE


def test_matched_count_is_capped_on_big_lands(admin_client, monkeypatch):
    monkeypatch.setattr(gallery, "COUNT_CAP", 50)
    land = make_land()
    add_media(land, 60)
    response = admin_client.get(gallery_url(land))
    assert response.context["page"].matched_capped
    assert "More than 50 media" in response.content.decode()


# --- The land's figures -----------------------------------------------------------


def test_figures_of_a_known_land(land):
    assert gallery.format_counts(land.pk) == [("JPEG", 3), ("PNG", 1)]
    assert gallery.failure_counts(land.pk) == [("timeout", 1)]
    edges = gallery.DIMENSION_EDGES
    label = gallery.edge_labels(edges)
    bins = gallery.dimension_bins(land.pk)
    # 640x480 and 1024x768 share no bin; 150x90 sits in (100-200, 0-100); 300x300 in (200-400, 200-400).
    assert bins == {
        (label.index("400-800"), label.index("400-800")): 1,
        (label.index("800-1,200"), label.index("400-800")): 1,
        (label.index("100-200"), label.index("0-100")): 1,
        (label.index("200-400"), label.index("200-400")): 1,
    }
    sizes = dict(gallery.file_size_bins(land.pk))
    assert sizes["0-10 kB"] == 1
    assert sizes["10 kB-50 kB"] == 1
    assert sizes["50 kB-100 kB"] == 1
    assert sizes["250 kB-500 kB"] == 1
    assert sum(sizes.values()) == 4
    assert list(sizes)[-1] == "10 MB+"


def test_palette_is_the_mean_share_over_images_with_a_palette(land):
    shares, images = gallery.land_palette(land.pk)
    assert images == 2
    assert shares == [("#ff0000", 80.0), ("#0000ff", 20.0)]


def test_palette_accumulation_ignores_malformed_values():
    values = [
        {"#FF0000": 50, "#00ff00": 50},
        [{"hex": "#ff0000", "percentage": 100}],
        {"red": 100},
        {"#ff0000": "lots"},
        {"#ff0000": True},
        None,
        "garbage",
    ]
    shares, images = gallery.accumulate_palette(values)
    assert images == 2
    assert shares == [("#ff0000", 75.0), ("#00ff00", 25.0)]


def test_palette_keeps_the_top_colours(db):
    land = make_land()
    page = make_expression(land)
    for i in range(30):
        make_media(page, websafe_colors={f"#0000{i:02x}": 100.0}, analysis_status=AnalysisStatus.DONE)
    shares, images = gallery.land_palette(land.pk, top=5)
    assert images == 30
    assert len(shares) == 5
    assert all(share == pytest.approx(100 / 30) for _, share in shares)


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:image/svg+xml;base64,PHN2Zz4=", "//img.example/a.png"]
)
def test_only_http_urls_become_links_and_no_crawled_url_a_source(admin_client, url):
    land = make_land()
    make_media(make_expression(land), url=url)
    make_media(make_expression(land), url="https://img.example/fine.png")

    html = admin_client.get(gallery_url(land)).content.decode()

    assert 'href="https://img.example/fine.png" rel="noopener noreferrer"' in html
    assert 'src="https://img.example' not in html
    assert f'href="{url}"' not in html
    assert f'src="{url}"' not in html
    assert "not analysed yet" in html


@pytest.mark.parametrize("value", ["#ff0000\n", "#ff0000 ", "#ff00000", "#ff0000\n;background:url(x)"])
def test_a_colour_is_a_whole_match_never_a_prefix(value):
    # A trailing newline once passed a "^...$" pattern, and these values end up in style attributes.
    assert charts.safe_fill(value) == charts.DEFAULT_FILL
    assert list(gallery._palette_entries({value: 50})) == []
    assert list(gallery._palette_entries({"#ff0000": 50})) == [("#ff0000", 50.0)]
