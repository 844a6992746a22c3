"""The custom admin pages answer 403, as the admin's own lists do, to staff without the view permission
their rule names; and they link only to the pages the user may open."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import CORPUS_READER

pytestmark = pytest.mark.django_db


def page_paths(corpus) -> list[tuple[str, str]]:
    """(path, the permission that opens it) for every custom page read with GET."""
    land, cluster, job = corpus.land, corpus.cluster, corpus.job
    return [
        (reverse("medianalyse:land-analysis", args=[land.pk]), "lands.view_land"),
        (reverse("medianalyse:land-gallery", args=[land.pk]), "lands.view_land"),
        (reverse("medianalyse_clusters:land-clusters", args=[land.pk]), "lands.view_land"),
        (reverse("medianalyse_clusters:cluster-detail", args=[cluster.pk]), "lands.view_land"),
        (reverse("medianalyse:job-progress", args=[job.pk]), "media_analysis.view_analysisjob"),
    ]


def test_staff_without_permission_gets_403_as_from_the_admins_own_lists(corpus, as_user):
    client = as_user("bare")
    # The admin's own lists of the same rows refuse it the same way.
    for model_list in ("/admin/lands/land/", "/admin/lands/media/", "/admin/media_analysis/analysisjob/"):
        assert client.get(model_list).status_code == 403
    for path, _ in page_paths(corpus):
        assert client.get(path).status_code == 403, path


def test_each_page_opens_with_its_own_view_permission(corpus, as_user):
    paths = page_paths(corpus)
    for permission in sorted({permission for _, permission in paths}):
        client = as_user(f"holder-of-{permission.split('.')[1]}", permission)
        for path, needed in paths:
            expected = 200 if needed == permission else 403
            assert client.get(path).status_code == expected, (permission, path)


def test_change_implies_view_and_run_analysis_follows_jobs(corpus, as_user):
    client = as_user("changer", "lands.change_land", "media_analysis.run_analysis")
    for path, _ in page_paths(corpus):
        assert client.get(path).status_code == 200, path


def test_a_superuser_opens_every_page(corpus, as_user, admin_user):
    client = as_user(admin_user)
    for path, _ in page_paths(corpus):
        assert client.get(path).status_code == 200, path


def test_a_refused_post_changes_nothing(corpus, as_user):
    from media_analysis.models import AnalysisJob

    client = as_user("bare")
    land_page = reverse("medianalyse:land-analysis", args=[corpus.land.pk])
    assert client.post(land_page, {"media_types": ["img"]}).status_code == 403
    assert AnalysisJob.objects.count() == 1


# --- Links ------------------------------------------------------------------------------------------


def test_the_job_page_of_a_user_who_may_read_jobs_only_links_to_nothing_else(corpus, as_user):
    html = as_user("jobs-only", "media_analysis.view_analysisjob").get(
        reverse("medianalyse:job-progress", args=[corpus.job.pk])
    )
    content = html.content.decode()
    for target in (
        reverse("medianalyse:land-analysis", args=[corpus.land.pk]),
        reverse("medianalyse:land-gallery", args=[corpus.land.pk]),
        reverse("medianalyse_clusters:land-clusters", args=[corpus.land.pk]),
        f"/api/lands/{corpus.land.pk}/export/",
        "/admin/lands/",
    ):
        assert target not in content, target
    assert 'data-media-prefix=""' in content
    # The failure is listed, its media id without a link.
    failing = corpus.job.recent_failures[0]["media_id"]
    assert f'<td data-label="Media">{failing}</td>' in content


def test_the_job_page_links_to_what_the_user_may_open(corpus, as_user):
    content = (
        as_user("all", *CORPUS_READER, "media_analysis.view_analysisjob")
        .get(reverse("medianalyse:job-progress", args=[corpus.job.pk]))
        .content.decode()
    )
    assert f'href="{reverse("medianalyse:land-gallery", args=[corpus.land.pk])}"' in content
    assert f'href="/api/lands/{corpus.land.pk}/export/?type=mediacsv&amp;minrel=all"' in content
    failing = corpus.job.recent_failures[0]["media_id"]
    assert f'href="/admin/lands/media/{failing}/change/"' in content


def test_a_land_reader_sees_no_job_history_nor_media_links(corpus, as_user):
    client = as_user("land-only", "lands.view_land")
    analysis = client.get(reverse("medianalyse:land-analysis", args=[corpus.land.pk])).content.decode()
    assert reverse("medianalyse:job-progress", args=[corpus.job.pk]) not in analysis
    assert 'id="ma-jobs"' not in analysis
    assert "needs the view permission on analysis jobs" in analysis
    assert "/admin/lands/media/" not in analysis
    assert f'href="{reverse("medianalyse:land-gallery", args=[corpus.land.pk])}"' in analysis

    gallery = client.get(reverse("medianalyse:land-gallery", args=[corpus.land.pk])).content.decode()
    assert f"#{corpus.media.pk}" in gallery
    assert "/admin/lands/media/" not in gallery

    detail = client.get(reverse("medianalyse_clusters:cluster-detail", args=[corpus.cluster.pk])).content.decode()
    assert f"#{corpus.media.pk}" in detail
    assert "/admin/lands/media/" not in detail


def test_with_the_media_permission_the_media_are_linked(corpus, as_user):
    client = as_user("reader", *CORPUS_READER, "media_analysis.view_analysisjob")
    change = f'href="/admin/lands/media/{corpus.media.pk}/change/"'
    analysis = client.get(reverse("medianalyse:land-analysis", args=[corpus.land.pk])).content.decode()
    assert 'id="ma-jobs"' in analysis
    assert "/admin/lands/media/?expression__land__id__exact=" in analysis
    assert change in client.get(reverse("medianalyse:land-gallery", args=[corpus.land.pk])).content.decode()
    detail = client.get(reverse("medianalyse_clusters:cluster-detail", args=[corpus.cluster.pk]))
    assert change in detail.content.decode()


def test_the_land_change_form_links_to_media_only_for_media_readers(corpus, as_user):
    change_form = f"/admin/lands/land/{corpus.land.pk}/change/"
    content = as_user("land-only", "lands.view_land").get(change_form).content.decode()
    assert f'href="{reverse("medianalyse:land-analysis", args=[corpus.land.pk])}"' in content
    assert f"/api/lands/{corpus.land.pk}/export/?type=mediacsv&amp;minrel=all" in content
    assert "/admin/lands/media/?expression__land__id__exact=" not in content

    content = as_user("reader", *CORPUS_READER).get(change_form).content.decode()
    assert "/admin/lands/media/?expression__land__id__exact=" in content


def test_the_analysis_and_export_actions_follow_their_permissions(corpus, as_user):
    viewer = as_user("land-only", "lands.view_land").get("/admin/lands/land/").content.decode()
    assert 'value="export_land_action"' in viewer
    assert 'value="analyse_land_media_action"' not in viewer
    runner = as_user("runner", "lands.view_land", "media_analysis.run_analysis").get("/admin/lands/land/")
    assert 'value="analyse_land_media_action"' in runner.content.decode()


def test_the_job_list_opens_for_runners_as_their_pages_do(corpus, as_user):
    client = as_user("runner", "media_analysis.run_analysis")
    listing = client.get("/admin/media_analysis/analysisjob/")
    assert listing.status_code == 200
    assert reverse("medianalyse:job-progress", args=[corpus.job.pk]) in listing.content.decode()
    assert client.get(f"/admin/media_analysis/analysisjob/{corpus.job.pk}/change/").status_code == 200
