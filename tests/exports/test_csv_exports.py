"""CSV exports read back with the csv module and compared with the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from exports import columns, services
from exports.columns import MediaColumn, register_media_column
from lands.models import Domain, Expression, Media
from media_analysis.engine.version import ANALYSIS_VERSION
from media_analysis.errors import InvalidParameters
from media_analysis.models import MediaText
from tests.exports.helpers import cell, read_csv, run_export


def selected(page: Expression, minrel: int = 1, depth: int | None = None) -> bool:
    if page.relevance is None or page.relevance < minrel:
        return False
    return depth is None or (page.depth is not None and page.depth <= depth)


def test_crawler_headers_are_verbatim():
    # The crawler's column lists (MyWebIntelligence mwi/export.py), in its order.
    assert columns.PAGE_CSV_COLUMNS == (
        "id", "url", "title", "description", "keywords", "relevance", "depth",
        "domain_id", "domain_name", "domain_description", "domain_keywords", "tags",
    )  # fmt: skip
    assert columns.FULLPAGE_CSV_COLUMNS == (
        "id", "url", "title", "description", "keywords", "readable", "relevance", "depth",
        "domain_id", "domain_name", "domain_description", "domain_keywords", "tags",
    )  # fmt: skip
    assert columns.NODE_CSV_COLUMNS == (
        "id", "name", "title", "description", "keywords", "expressions", "average_relevance",
    )  # fmt: skip
    assert columns.PAGE_GEXF_ATTRIBUTES == (
        ("title", "string"), ("description", "string"), ("keywords", "string"),
        ("domain_id", "string"), ("relevance", "integer"), ("depth", "integer"),
    )  # fmt: skip
    assert columns.NODE_GEXF_ATTRIBUTES == (
        ("title", "string"), ("description", "string"), ("keywords", "string"),
        ("expressions", "integer"), ("average_relevance", "float"),
    )  # fmt: skip
    assert services.media_csv_header()[:4] == ("id", "expression_id", "url", "type")


def test_mediacsv_header_lists_every_analysis_field():
    assert services.media_csv_header() == (
        "id", "expression_id", "url", "type", "status", "width", "height", "file_size", "format",
        "color_mode", "mime_type", "has_transparency", "aspect_ratio", "frames", "duration",
        "image_hash", "phash", "dhash", "ahash", "colorhash", "cluster_id", "dominant_colors", "dominant_color_shares",
        "websafe_color", "exif_make", "exif_model", "exif_datetime", "gps_latitude", "gps_longitude",
        "is_conforming", "conformity_reason", "analyzed_at", "analysis_version", "values_at", "checked_at",
        "error_class", "analysis_error", "domain", "depth", "relevance",
        "page_url", "page_published_at", "page_fetched_at", "thumbnail_key", "thumbnail_file", "original_key",
        "ocr_status", "ocr_text", "ocr_language", "ocr_confidence", "ocr_text_area",
    )  # fmt: skip


@pytest.mark.parametrize("export_type", ["pagecsv", "fullpagecsv"])
@pytest.mark.parametrize(("minrel", "depth"), [(None, None), (2, None), (0, 1)])
def test_page_csv_matches_the_database(corpus, export_type, minrel, depth):
    data, export = run_export(corpus.land, export_type, minrel=minrel, depth=depth)
    header, rows = read_csv(data)

    expected = []
    for page in Expression.objects.filter(land=corpus.land).select_related("domain").order_by("id"):
        if not selected(page, 1 if minrel is None else minrel, depth):
            continue
        tags = sorted({content.tag.name for content in page.tagged_contents.select_related("tag")})
        values = [page.id, page.url, page.title, page.description, page.keywords]
        if export_type == "fullpagecsv":
            values.append(page.readable)
        values += [page.relevance, page.depth, page.domain_id, page.domain.name]
        values += [page.domain.description, page.domain.keywords, ",".join(tags) or None]
        expected.append([cell(value) for value in values])

    assert header == list(columns.FULLPAGE_CSV_COLUMNS if export_type == "fullpagecsv" else columns.PAGE_CSV_COLUMNS)
    assert rows == expected
    assert export.counts.records == len(expected)
    assert rows, "the corpus selects pages for every parameter set"


def test_page_csv_tags_and_hostile_text(corpus):
    data, _ = run_export(corpus.land, "fullpagecsv")
    header, rows = read_csv(data)
    by_id = {int(row[0]): dict(zip(header, row, strict=True)) for row in rows}
    first = by_id[corpus.pages["p1"].pk]
    assert first["tags"] == "alpha,beta"  # distinct, like GROUP_CONCAT(DISTINCT)
    assert by_id[corpus.pages["p3"].pk]["tags"] == "beta"
    assert by_id[corpus.pages["p2"].pk]["tags"] == ""
    # Quotes, separators, CR/LF, tabs and controls survive; only NUL is dropped.
    assert first["title"] == corpus.pages["p1"].title.replace("\x00", "")
    assert "\r\nagain\t" in first["title"]
    assert '"hi"' in first["title"]
    assert len(first["readable"]) == 200_000
    assert b"\x00" not in data
    assert data.startswith(b'"id","url","title"')


def test_nodecsv_aggregates_selected_pages_per_domain(corpus):
    data, export = run_export(corpus.land, "nodecsv")
    header, rows = read_csv(data)
    assert header == list(columns.NODE_CSV_COLUMNS)

    expected = []
    for domain in Domain.objects.order_by("id"):
        pages = [page for page in domain.expressions.filter(land=corpus.land) if selected(page)]
        if pages:
            mean = round(sum(page.relevance for page in pages) / len(pages), 2)
            values = [domain.id, domain.name, domain.title, domain.description, domain.keywords, len(pages), mean]
            expected.append([cell(value) for value in values])
    assert rows == expected
    # a.example: p1 (3) and p2 (1); b.example: p3 (2) and p5 (6); c.example has nothing selected.
    assert [(row[1], row[5], row[6]) for row in rows] == [("a.example", "2", "2.0"), ("b.example", "2", "4.0")]
    assert export.counts.records == 2


def test_nodecsv_average_is_rounded_to_two_decimals(corpus):
    corpus.pages["p2"].relevance = 2
    corpus.pages["p2"].save()
    corpus.pages["p4"].relevance = 1
    corpus.pages["p4"].save()
    _, rows = read_csv(run_export(corpus.land, "nodecsv", depth=1)[0])
    assert [(row[1], row[6]) for row in rows] == [("a.example", "2.5"), ("b.example", "2.0")]
    _, rows = read_csv(run_export(corpus.land, "nodecsv", minrel=1, depth=2)[0])
    assert rows[2][1:] == ["c.example", "", "", "", "1", "1.0"]


def expected_media_row(media: Media, stale_values: bool = False) -> list[str]:
    colors = media.dominant_colors
    hexes = None
    if colors is not None:
        hexes = [c.get("hex", "").lower() or "#{:02x}{:02x}{:02x}".format(*c["rgb"]) for c in colors]
    shares = None if colors is None else [c["percentage"] for c in colors]
    websafe = max(media.websafe_colors, key=media.websafe_colors.get) if media.websafe_colors else None
    page = media.expression
    analysis_values = [
        media.width, media.height,
        media.file_size, media.format, media.color_mode, media.mime_type, media.has_transparency,
        media.aspect_ratio, media.frames, media.duration, media.image_hash, media.phash, media.dhash,
        media.ahash, media.colorhash, media.cluster_id,
        None if hexes is None else json.dumps(hexes, separators=(",", ":")),
        None if shares is None else json.dumps(shares, separators=(",", ":")),
        websafe, media.exif_make, media.exif_model, media.exif_datetime, media.gps_latitude, media.gps_longitude,
        media.is_conforming, media.conformity_reason,
    ]  # fmt: skip
    version = [
        media.analysis_version,
        media.values_at.isoformat() if media.values_at else None,
        media.checked_at.isoformat() if media.checked_at else None,
    ]
    thumbnail = [
        media.thumbnail_key,
        media.thumbnail_key.rsplit("/", 1)[1] if media.thumbnail_key else None,
        media.original_key,
    ]
    if media.analysis_status != "done" and not stale_values:
        # Kept values of an earlier attempt are left out by default.
        analysis_values = [None] * len(analysis_values)
        version = [None, None, None]
        thumbnail = [None, None, None]
    page_dates = [page.published_at, page.fetched_at]
    read = MediaText.objects.filter(media=media).first()
    ocr = [read.status, read.text, read.language, read.confidence, read.text_area] if read else [None] * 5
    values = [
        media.id, media.expression_id, media.url, media.type, media.analysis_status, *analysis_values,
        media.analyzed_at.isoformat() if media.analyzed_at else None, *version,
        media.error_class, media.analysis_error, page.domain.name, page.depth, page.relevance,
        page.url, *(date.isoformat() if date else None for date in page_dates), *thumbnail, *ocr,
    ]  # fmt: skip
    return [cell(value) for value in values]


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ({}, ["m1", "m2", "m3", "m4", "m5", "m6", "m8"]),
        ({"media_types": "img"}, ["m1", "m2", "m3", "m4", "m5", "m8"]),
        ({"media_types": "video,audio"}, ["m6"]),
        ({"minrel": 0, "depth": 1}, ["m1", "m2", "m4", "m5", "m6", "m8"]),
        ({"minrel": 3}, ["m1", "m3", "m4"]),
    ],
)
def test_mediacsv_matches_the_database(corpus, params, names):
    data, export = run_export(corpus.land, "mediacsv", **params)
    header, rows = read_csv(data)
    assert tuple(header) == services.media_csv_header()
    wanted = Media.objects.filter(pk__in=[corpus.media[name].pk for name in names]).select_related("expression__domain")
    assert rows == [expected_media_row(media) for media in wanted.order_by("id")]
    assert export.counts.records == len(names)


@pytest.mark.parametrize("stale_values", [False, True])
def test_mediacsv_writes_kept_values_only_when_asked(corpus, stale_values):
    m8 = corpus.media["m8"]
    Media.objects.filter(pk=m8.pk).update(analysis_version=0, values_at=datetime(2024, 3, 3, tzinfo=UTC))
    data, _ = run_export(corpus.land, "mediacsv", **({"stale_values": "true"} if stale_values else {}))
    header, rows = read_csv(data)
    by_id = {int(row[0]): dict(zip(header, row, strict=True)) for row in rows}
    wanted = Media.objects.select_related("expression__domain").order_by("id")
    assert rows == [expected_media_row(media, stale_values) for media in wanted if media.pk in by_id]

    failed = by_id[m8.pk]
    assert (failed["status"], failed["error_class"]) == ("failed", "corrupt_image")
    if stale_values:
        # Flagged by its columns: failed now, values of version 0 from an earlier date.
        assert (failed["image_hash"], failed["analysis_version"]) == (m8.image_hash, "0")
        assert failed["values_at"] == "2024-03-03T00:00:00+00:00"
    else:
        assert failed["image_hash"] == failed["analysis_version"] == failed["values_at"] == ""
    done = by_id[corpus.media["m1"].pk]
    assert (done["width"], done["analysis_version"]) == ("320", str(ANALYSIS_VERSION))
    assert done["checked_at"] == ""
    assert by_id[corpus.media["m2"].pk]["checked_at"] == "2024-06-02T08:00:00+00:00"


def test_stale_values_is_for_mediacsv_only(corpus):
    with pytest.raises(InvalidParameters) as caught:
        services.prepare_export(corpus.land, "mediagexf", stale_values=True)
    assert caught.value.errors == {"stale_values": ["stale_values applies to mediacsv and archive only, not mediagexf"]}
    with pytest.raises(InvalidParameters):
        services.prepare_export(corpus.land, "mediacsv", stale_values="perhaps")


def test_mediacsv_renders_analysis_fields(corpus):
    _, rows = read_csv(run_export(corpus.land, "mediacsv")[0])
    header = services.media_csv_header()
    by_id = {int(row[0]): dict(zip(header, row, strict=True)) for row in rows}
    done = by_id[corpus.media["m1"].pk]
    assert json.loads(done["dominant_colors"]) == ["#c81e28", "#0a0a0a"]
    assert json.loads(done["dominant_color_shares"]) == [91.5, 8.5]
    assert done["websafe_color"] == "#cc3333"
    assert (done["has_transparency"], done["is_conforming"]) == ("false", "true")
    assert done["analyzed_at"] == "2024-05-01T12:30:00+00:00"
    assert (done["domain"], done["depth"], done["relevance"]) == ("a.example", "0", "3")
    pending = by_id[corpus.media["m4"].pk]
    # NULL is an empty field, never "None" nor "null".
    assert pending["width"] == pending["dominant_colors"] == pending["websafe_color"] == ""
    assert "None" not in pending.values()
    failed = by_id[corpus.media["m8"].pk]
    assert failed["analysis_error"] == corpus.media["m8"].analysis_error.replace("\x00", "")
    assert failed["error_class"] == "corrupt_image"


def test_empty_exports_still_have_a_header(corpus):
    for export_type, header in [
        ("pagecsv", list(columns.PAGE_CSV_COLUMNS)),
        ("nodecsv", list(columns.NODE_CSV_COLUMNS)),
        ("mediacsv", list(services.media_csv_header())),
    ]:
        data, export = run_export(corpus.land, export_type, minrel=100)
        assert read_csv(data) == (header, [])
        assert export.counts.records == 0
        assert data.endswith(b"\r\n")


@pytest.mark.parametrize(
    ("export_type", "queries"), [("pagecsv", 2), ("fullpagecsv", 2), ("nodecsv", 1), ("mediacsv", 1)]
)
def test_csv_query_count_does_not_depend_on_size(corpus, monkeypatch, django_assert_num_queries, export_type, queries):
    # Chunks of 2 rows: an N+1 or a query per chunk would show as more queries.
    monkeypatch.setattr(services, "CHUNK_SIZE", 2)
    with django_assert_num_queries(queries):
        data, export = run_export(corpus.land, export_type, minrel=0)
    assert export.counts.records >= 3
    assert len(read_csv(data)[1]) == export.counts.records


def test_a_registered_media_column_is_exported(corpus, monkeypatch):
    monkeypatch.setattr(columns, "MEDIA_COLUMNS", list(columns.MEDIA_COLUMNS))
    monkeypatch.setattr(services, "MEDIA_COLUMNS", columns.MEDIA_COLUMNS)
    register_media_column(
        MediaColumn("hash_prefix", ("image_hash",), lambda value: value[:8] if value else None), after="colorhash"
    )
    with pytest.raises(ValueError, match="already has"):
        register_media_column(MediaColumn("url", ("url",)))
    header, rows = read_csv(run_export(corpus.land, "mediacsv")[0])
    assert header[header.index("colorhash") + 1] == "hash_prefix"
    by_id = {int(row[0]): dict(zip(header, row, strict=True)) for row in rows}
    assert by_id[corpus.media["m1"].pk]["hash_prefix"] == "aaaaaaaa"
    assert by_id[corpus.media["m4"].pk]["hash_prefix"] == ""


@pytest.mark.parametrize(
    ("export_type", "crawler"), [("pagecsv", "PAGE_CSV_COLUMNS"), ("fullpagecsv", "FULLPAGE_CSV_COLUMNS")]
)
def test_page_csv_appends_dates_after_the_crawler_columns_on_request(corpus, export_type, crawler):
    plain_header, plain_rows = read_csv(run_export(corpus.land, export_type)[0])
    header, rows = read_csv(run_export(corpus.land, export_type, dates="true")[0])
    crawler_columns = list(getattr(columns, crawler))
    assert plain_header == crawler_columns
    assert header == [*crawler_columns, "published_at", "fetched_at"]
    # The crawler's columns keep their positions and values; the dates only follow them.
    assert [row[: len(crawler_columns)] for row in rows] == plain_rows
    by_id = {row[0]: row[len(crawler_columns) :] for row in rows}
    assert by_id[str(corpus.pages["p1"].pk)] == ["2024-01-10T09:00:00+00:00", "2024-02-01T18:00:00+00:00"]
    assert by_id[str(corpus.pages["p3"].pk)] == ["", "2024-03-05T07:00:00+00:00"]
    assert by_id[str(corpus.pages["p2"].pk)] == ["", ""]


@pytest.mark.parametrize("export_type", ["nodecsv", "mediacsv", "mediagexf", "clustercsv"])
def test_dates_is_for_page_exports_only(corpus, export_type):
    with pytest.raises(InvalidParameters) as caught:
        services.prepare_export(corpus.land, export_type, dates=True)
    assert caught.value.errors == {
        "dates": [f"dates applies to pagecsv, fullpagecsv, pagegexf only, not {export_type}"]
    }


def test_mediacsv_carries_the_page_and_the_stored_thumbnail(corpus):
    _, rows = read_csv(run_export(corpus.land, "mediacsv")[0])
    header = services.media_csv_header()
    by_id = {int(row[0]): dict(zip(header, row, strict=True)) for row in rows}
    m1 = by_id[corpus.media["m1"].pk]
    assert m1["page_url"] == "https://a.example/1"
    assert (m1["page_published_at"], m1["page_fetched_at"]) == (
        "2024-01-10T09:00:00+00:00",
        "2024-02-01T18:00:00+00:00",
    )
    assert m1["thumbnail_key"] == corpus.media["m1"].thumbnail_key
    assert m1["thumbnail_file"] == f"{'a' * 64}.jpg"
    # A failed media's kept thumbnail is an earlier attempt's value: written only with stale_values.
    assert by_id[corpus.media["m8"].pk]["thumbnail_file"] == ""


def test_minrel_all_selects_every_page_as_a_job_does(corpus):
    _, rows = read_csv(run_export(corpus.land, "mediacsv", minrel="all")[0])
    # m7 sits on p4 (relevance 0): left out by the crawler's default, kept here.
    assert {int(row[0]) for row in rows} == {m.pk for name, m in corpus.media.items() if name != "n1"}
    _, pages = read_csv(run_export(corpus.land, "pagecsv", minrel="ALL")[0])
    # p6 was never scored: only "all" takes it.
    assert str(corpus.pages["p6"].pk) in {row[0] for row in pages}
    with pytest.raises(InvalidParameters):
        services.prepare_export(corpus.land, "pagecsv", minrel="most")
