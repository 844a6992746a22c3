"""Django admin for the corpus and the analysis jobs: pages, filters, escaping, query counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from lands.aggregates import ensure_land_counts
from lands.models import Tag
from media_analysis.models import AnalysisJob, JobStatus
from tests.adminapi.helpers import count_queries, grow_land

EVIL = '"><script>alert(1)</script>'


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def tags(corpus) -> list[Tag]:
    topic = Tag.objects.create(land=corpus.land, name="Topic", sorting=1, color="#ff8800")
    return [
        topic,
        Tag.objects.create(land=corpus.land, parent=topic, name="Subtopic", sorting=2, color="teal"),
        Tag.objects.create(land=corpus.other_land, name="Other", color=""),
    ]


@pytest.fixture
def jobs(corpus, admin_user) -> list[AnalysisJob]:
    now = timezone.now()
    return [
        AnalysisJob.objects.create(
            land=corpus.land,
            requested_by=admin_user,
            status=JobStatus.COMPLETED,
            total=4,
            analysed=2,
            failed=1,
            skipped=1,
            started_at=now - timedelta(seconds=125),
            finished_at=now,
            recent_failures=[{"media_id": 3, "url": "https://cdn.example/x.jpg", "error_class": "timeout"}],
        ),
        AnalysisJob.objects.create(
            land=corpus.land, status=JobStatus.RUNNING, total=200, analysed=50, started_at=now, media_ids=[1, 2, 3]
        ),
        AnalysisJob.objects.create(land=corpus.other_land, status=JobStatus.PENDING),
    ]


def changelist(model: str, app: str = "lands") -> str:
    return reverse(f"admin:{app}_{model}_changelist")


def change(model: str, pk: int, app: str = "lands") -> str:
    return reverse(f"admin:{app}_{model}_change", args=[pk])


# --- Pages render -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "model", "instance"),
    [
        pytest.param("lands", "land", lambda c, t, j: c.land, id="land"),
        pytest.param("lands", "domain", lambda c, t, j: c.domain, id="domain"),
        pytest.param("lands", "expression", lambda c, t, j: c.article, id="expression"),
        pytest.param("lands", "media", lambda c, t, j: c.jpeg, id="media-image"),
        pytest.param("lands", "media", lambda c, t, j: c.video, id="media-video"),
        pytest.param("lands", "tag", lambda c, t, j: t[1], id="tag"),
        pytest.param("media_analysis", "analysisjob", lambda c, t, j: j[0], id="job-completed"),
        pytest.param("media_analysis", "analysisjob", lambda c, t, j: j[1], id="job-running"),
    ],
)
def test_changelist_and_change_page_render(admin_client, corpus, tags, jobs, app, model, instance):
    obj = instance(corpus, tags, jobs)
    response = admin_client.get(changelist(model, app))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1
    response = admin_client.get(change(model, obj.pk, app))
    assert response.status_code == 200
    assert str(obj).encode() in response.content


def test_admin_index_lists_every_model(admin_client):
    content = admin_client.get(reverse("admin:index")).content.decode()
    for model in ("land", "domain", "expression", "media", "tag", "analysisjob"):
        assert f"/{model}/" in content


def test_plain_user_cannot_open_admin(client, plain_user, corpus):
    client.force_login(plain_user)
    response = client.get(changelist("media"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


# --- Lands -------------------------------------------------------------------------------


def test_land_changelist_counts_and_share(admin_client, corpus):
    response = admin_client.get(changelist("land"))
    rows = {land.name: land for land in response.context["cl"].result_list}
    climate = rows["Climate"]
    assert (climate.expression_count, climate.media_count, climate.analysed_count, climate.failed_count) == (
        3,
        4,
        2,
        1,
    )
    content = response.content.decode()
    assert "50.0%" in content  # 2 of Climate's 4 media analysed
    assert "100.0%" in content  # Elsewhere's only media analysed


def test_land_changelist_sorts_by_media_count(admin_client, corpus):
    grow_land(corpus.other_land, pages=2)
    response = admin_client.get(changelist("land") + "?o=-5")
    assert [land.name for land in response.context["cl"].result_list] == ["Elsewhere", "Climate"]


def test_land_search_and_change_page_counts(admin_client, corpus):
    response = admin_client.get(changelist("land") + "?q=clim")
    assert [land.name for land in response.context["cl"].result_list] == ["Climate"]
    content = admin_client.get(change("land", corpus.land.pk)).content.decode()
    assert "50.0%" in content
    # The crawl's fields are shown, not editable: a re-import would undo an edit.
    assert 'name="name"' not in content
    assert 'name="description"' not in content
    assert "Climate" in content


def test_domain_search(admin_client, corpus):
    from tests.factories import make_domain

    make_domain("blog.example")
    response = admin_client.get(changelist("domain") + "?q=news")
    assert [domain.name for domain in response.context["cl"].result_list] == ["news.example"]


# --- Expressions -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("depth__exact=1", {"article"}),
        ("minrel=3", {"home", "elsewhere"}),
        ("minrel=0", {"home", "article", "missing", "elsewhere"}),
        ("http_status__exact=404", {"missing"}),
        ("land__id__exact={land}&minrel=2", {"home", "article"}),
        ("q=Gone", {"missing"}),
        ("q=news.example/page", {"home", "article", "missing", "elsewhere"}),
    ],
)
def test_expression_filters_and_search(admin_client, corpus, query, expected):
    response = admin_client.get(changelist("expression") + "?" + query.format(land=corpus.land.pk))
    assert response.status_code == 200
    assert {e.pk for e in response.context["cl"].result_list} == {getattr(corpus, n).pk for n in expected}


def test_expression_change_page_uses_autocomplete_widgets(admin_client, corpus):
    content = admin_client.get(change("expression", corpus.home.pk)).content.decode()
    # Autocomplete selects carry only the current value, never every land or domain.
    assert "admin-autocomplete" in content
    assert content.count("<option") <= 4


# --- Media -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type__exact=video", {"video"}),
        ("analysis_status__exact=failed", {"timeout"}),
        ("format__exact=JPEG", {"jpeg", "foreign"}),
        ("error_class=timeout", {"timeout"}),
        ("is_conforming__exact=0", {"png"}),
        ("expression__land__id__exact={other}", {"foreign"}),
        ("q=clip.mp4", {"video"}),
    ],
)
def test_media_filters_and_search(admin_client, corpus, query, expected):
    response = admin_client.get(changelist("media") + "?" + query.format(other=corpus.other_land.pk))
    assert response.status_code == 200
    assert {m.pk for m in response.context["cl"].result_list} == {getattr(corpus, n).pk for n in expected}


def test_media_changelist_shows_thumbnail_size_and_swatches(admin_client, corpus):
    content = admin_client.get(changelist("media")).content.decode()
    assert f'<img src="/admin/medianalyse/stored/{corpus.jpeg.thumbnail_key}"' in content
    assert f'src="{corpus.jpeg.url}"' not in content
    assert 'loading="lazy"' in content
    assert "640 x 427" in content
    assert 'title="#1f2a3b (41.5%)"' in content
    assert "background:#c0ffee" in content
    # A video has no image to preview.
    assert '<img src="https://cdn.example/clip.mp4"' not in content


def test_media_urls_and_colours_from_pages_are_escaped(admin_client, corpus):
    from tests.factories import make_media

    hostile = make_media(
        corpus.home,
        url="https://evil.example/a.jpg" + EVIL,
        analysis_status="done",
        dominant_colors=[{"hex": "#123456" + EVIL}, {"hex": "#abcdef", "percentage": 10}],
        exif_data={"Artist": EVIL},
        analysis_error=EVIL,
    )
    for url in (changelist("media"), change("media", hostile.pk)):
        content = admin_client.get(url).content.decode()
        assert "<script>alert(1)" not in content
        assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in content
        assert "background:#abcdef" in content


def test_media_change_page_shows_every_analysis_field_read_only(admin_client, corpus):
    from lands.models import Media

    response = admin_client.get(change("media", corpus.jpeg.pk))
    content = response.content.decode()
    admin_form = response.context["adminform"]
    shown = {
        field.field["name"] if isinstance(field.field, dict) else field.field.name
        for fieldset in admin_form
        for line in fieldset
        for field in line
    }
    from lands.admin import SHOWN_BY

    # Every field is there, as itself or through the display that says it in plain words.
    expected = {SHOWN_BY.get(field.name, field.name) for field in Media._meta.concrete_fields} - {"id"}
    assert expected <= shown
    # Nothing is editable: the URL, type and page are the crawl's, the analysis is the pipeline's.
    assert set(admin_form.form.fields) == set()
    assert "&quot;Make&quot;: &quot;Canon&quot;" in content  # pretty-printed EXIF
    assert "<code>#1f2a3b</code> (41.5%)" in content
    assert 'width="240"' in content
    assert f'<a href="{corpus.jpeg.url}" rel="noopener noreferrer"' in content


# --- Tags --------------------------------------------------------------------------------


def test_tag_changelist_columns(admin_client, tags):
    response = admin_client.get(changelist("tag"))
    content = response.content.decode()
    assert "<code>#ff8800</code>" in content
    assert "teal" in content  # not a hex colour: shown as text, no swatch
    assert "background:teal" not in content
    names = [tag.name for tag in response.context["cl"].result_list]
    assert set(names) == {"Topic", "Subtopic", "Other"}


# --- Analysis jobs -----------------------------------------------------------------------


def test_job_changelist_shows_progress_counters_and_duration(admin_client, jobs):
    content = admin_client.get(changelist("analysisjob", "media_analysis")).content.decode()
    assert "100.0%" in content  # completed
    assert "25.0%" in content  # running: 50 of 200
    assert "2 min 05 s" in content


def test_job_admin_is_read_only(admin_client, jobs):
    assert admin_client.get(reverse("admin:media_analysis_analysisjob_add")).status_code == 403
    response = admin_client.get(change("analysisjob", jobs[1].pk, "media_analysis"))
    content = response.content.decode()
    assert 'name="_save"' not in content
    assert "3 media" in content  # explicit selection summarised
    job_url = change("analysisjob", jobs[1].pk, "media_analysis")
    assert admin_client.post(job_url, {"status": "failed"}).status_code == 403
    jobs[1].refresh_from_db()
    assert jobs[1].status == JobStatus.RUNNING
    delete = reverse("admin:media_analysis_analysisjob_delete", args=[jobs[0].pk])
    assert admin_client.get(delete).status_code == 403
    completed = admin_client.get(change("analysisjob", jobs[0].pk, "media_analysis")).content.decode()
    assert "&quot;error_class&quot;: &quot;timeout&quot;" in completed


# --- Query counts ------------------------------------------------------------------------

# Session + user, then the page's own queries: the count, the rows, and one per filter
# whose choices come from the database; the lands list also looks for lands without stored counts.
PINNED_CHANGELIST_QUERIES = {
    ("lands", "land", ""): 5,
    ("lands", "domain", ""): 4,
    ("lands", "expression", ""): 7,
    ("lands", "expression", "?minrel=1&depth__exact=1"): 7,
    ("lands", "media", ""): 6,
    ("lands", "media", "?analysis_status__exact=done&format__exact=JPEG"): 6,
    ("lands", "tag", ""): 5,
    ("media_analysis", "analysisjob", ""): 5,
}


@pytest.mark.parametrize(
    ("key", "expected"),
    [pytest.param(key, expected, id=f"{key[1]}{key[2]}") for key, expected in PINNED_CHANGELIST_QUERIES.items()],
)
def test_changelist_query_counts_are_pinned_and_do_not_grow(
    admin_client, corpus, tags, jobs, django_assert_num_queries, key, expected
):
    app, model, query = key
    url = changelist(model, app) + query
    # Every land has its stored counts (the first list fills those of lands that have none).
    ensure_land_counts()
    with django_assert_num_queries(expected):
        assert admin_client.get(url).status_code == 200
    grow_land(corpus.land, pages=12)
    grow_land(corpus.other_land, pages=4)
    for index in range(6):
        Tag.objects.create(land=corpus.land, parent=tags[0], name=f"extra-{index}")
    AnalysisJob.objects.create(land=corpus.land, status=JobStatus.FAILED, total=3, failed=3)
    assert count_queries(admin_client, url) == expected


def test_land_autocomplete_skips_the_counts(admin_client, corpus):
    url = reverse("admin:autocomplete") + "?app_label=lands&model_name=expression&field_name=land&term=Clim"
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(url)
    assert response.status_code == 200
    assert [row["text"] for row in response.json()["results"]] == ["Climate"]
    assert not any("lands_media" in query["sql"] for query in captured.captured_queries)
