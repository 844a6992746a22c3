"""Every read path of the API answers 403 without the view permission its rule names, 200 with it."""

from __future__ import annotations

import pytest

from media_analysis.models import AnalysisJob, JobStatus

pytestmark = pytest.mark.django_db


def read_paths(corpus) -> list[tuple[str, str]]:
    """(path, the permission that opens it) for every read endpoint."""
    land, page, media, cluster, job = corpus.land, corpus.page, corpus.media, corpus.cluster, corpus.job
    return [
        ("/api/lands/", "lands.view_land"),
        (f"/api/lands/{land.pk}/", "lands.view_land"),
        ("/api/expressions/", "lands.view_expression"),
        (f"/api/expressions/{page.pk}/", "lands.view_expression"),
        ("/api/media/", "lands.view_media"),
        (f"/api/media/{media.pk}/", "lands.view_media"),
        (f"/api/lands/{land.pk}/clusters/", "lands.view_land"),
        (f"/api/clusters/{cluster.pk}/", "lands.view_land"),
        (f"/api/lands/{land.pk}/export/?type=pagecsv", "lands.view_land"),
        (f"/api/lands/{land.pk}/export/?type=mediacsv", "lands.view_land"),
        ("/api/jobs/", "media_analysis.view_analysisjob"),
        (f"/api/jobs/{job.pk}/", "media_analysis.view_analysisjob"),
    ]


def test_a_token_without_permission_reads_nothing(corpus, token_client):
    client = token_client("nobody")
    for path, _ in read_paths(corpus):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "permission" in response.json()["detail"], path


def test_staff_status_adds_nothing(corpus, token_client, django_user_model):
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    client = token_client(staff)
    for path, _ in read_paths(corpus):
        assert client.get(path).status_code == 403, path


def test_each_path_opens_with_its_own_view_permission_and_no_other(corpus, token_client):
    paths = read_paths(corpus)
    for permission in sorted({permission for _, permission in paths}):
        client = token_client(f"holder-of-{permission.split('.')[1]}", permission)
        for path, needed in paths:
            expected = 200 if needed == permission else 403
            assert client.get(path).status_code == expected, (permission, path)


@pytest.mark.parametrize(
    "permissions",
    [
        ("lands.change_land", "lands.change_expression", "lands.change_media", "media_analysis.change_analysisjob"),
        ("lands.view_land", "lands.view_expression", "lands.view_media", "media_analysis.run_analysis"),
    ],
    ids=["change implies view", "run_analysis follows jobs"],
)
def test_what_implies_viewing(corpus, token_client, permissions):
    client = token_client("implied", *permissions)
    for path, _ in read_paths(corpus):
        assert client.get(path).status_code == 200, path


def test_a_superuser_reads_everything(corpus, token_client, admin_user):
    client = token_client(admin_user)
    for path, _ in read_paths(corpus):
        assert client.get(path).status_code == 200, path


def test_the_page_text_is_read_with_the_view_permission_on_expressions(corpus, token_client):
    path = f"/api/expressions/{corpus.page.pk}/"
    assert "readable" not in token_client("lands-only", "lands.view_land").get(path).json()
    response = token_client("pages", "lands.view_expression").get(path)
    assert response.json()["readable"] == "The page's text."


def test_an_anonymous_request_is_still_asked_to_authenticate(corpus, api_client):
    for path, _ in read_paths(corpus):
        response = api_client.get(path)
        assert response.status_code == 401, path
        assert response["WWW-Authenticate"] == "Token"


def test_starting_and_cancelling_need_run_analysis(corpus, token_client):
    job, land = corpus.job, corpus.land
    cancel = f"/api/jobs/{job.pk}/cancel/"
    start = f"/api/lands/{land.pk}/medianalyse/"
    # Reading jobs and lands does not make one a runner.
    reader = token_client("reader", "lands.view_land", "media_analysis.view_analysisjob")
    refused = reader.post(cancel)
    assert refused.status_code == 403
    assert "run_analysis" in refused.json()["detail"]
    assert reader.post(start, {}, format="json").status_code == 403
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING

    runner = token_client("runner", "media_analysis.run_analysis")
    assert runner.post(cancel).status_code == 200
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert runner.post(start, {}, format="json").status_code == 202
    assert AnalysisJob.objects.filter(land=land).count() == 2
