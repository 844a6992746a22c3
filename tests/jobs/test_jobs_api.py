import pytest
from django.contrib.auth.models import Permission

from media_analysis.models import AnalysisJob, JobStatus
from tests.factories import make_expression, make_land, make_media


@pytest.fixture
def land(db):
    land = make_land()
    make_media(make_expression(land, depth=0))
    return land


def _start(client, land_id, body=None):
    return client.post(f"/api/lands/{land_id}/medianalyse/", body or {}, format="json")


def test_start_answers_202_with_the_job_and_its_location(staff_api_client, land):
    response = _start(staff_api_client, land.pk, {"depth": 1, "media_types": ["img", "audio"]})
    assert response.status_code == 202, response.content
    job = AnalysisJob.objects.get()
    assert response["Location"].endswith(f"/api/jobs/{job.pk}/")
    assert response.json()["id"] == job.pk
    assert response.json()["media_types"] == ["img", "audio"]
    assert (job.depth, job.minrel, job.force) == (1, None, False)


def test_second_start_gets_the_active_job_with_409(staff_api_client, land):
    first = _start(staff_api_client, land.pk).json()
    response = _start(staff_api_client, land.pk)
    assert response.status_code == 409
    assert response.json()["job"]["id"] == first["id"]
    assert AnalysisJob.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [{"depth": -2}, {"media_types": ["gif"]}, {"minrel": "high"}, {"unknown": 1}, ["not", "an", "object"]],
)
def test_bad_parameters_get_a_clear_400(staff_api_client, land, body):
    response = _start(staff_api_client, land.pk, body)
    assert response.status_code == 400
    assert "detail" in response.json()
    assert not AnalysisJob.objects.exists()


def test_unknown_land_is_404(staff_api_client, db):
    assert _start(staff_api_client, 424242).status_code == 404


def test_rights_are_required(api_client, plain_user, land):
    assert _start(api_client, land.pk).status_code == 401
    api_client.force_authenticate(plain_user)
    assert _start(api_client, land.pk).status_code == 403
    plain_user.user_permissions.add(Permission.objects.get(codename="run_analysis"))
    plain_user = type(plain_user).objects.get(pk=plain_user.pk)  # drop the permission cache
    api_client.force_authenticate(plain_user)
    assert _start(api_client, land.pk).status_code == 202


def test_jobs_list_detail_and_cancel(staff_api_client, land, django_assert_num_queries):
    job_id = _start(staff_api_client, land.pk).json()["id"]
    other = make_land()
    _start(staff_api_client, other.pk)
    with django_assert_num_queries(2):  # count, then the page with land and user joined
        listing = staff_api_client.get("/api/jobs/")
    assert listing.status_code == 200
    assert listing.json()["count"] == 2
    for _ in range(3):
        _start(staff_api_client, make_land().pk)
    with django_assert_num_queries(2):
        assert staff_api_client.get("/api/jobs/").json()["count"] == 5
    assert staff_api_client.get(f"/api/jobs/?land={land.pk}").json()["count"] == 1
    assert staff_api_client.get("/api/jobs/?land=abc").status_code == 400
    assert staff_api_client.get("/api/jobs/?status=weird").status_code == 400
    detail = staff_api_client.get(f"/api/jobs/{job_id}/").json()
    assert detail["status"] == JobStatus.PENDING
    cancelled = staff_api_client.post(f"/api/jobs/{job_id}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == JobStatus.CANCELLED
    assert staff_api_client.post(f"/api/jobs/{job_id}/cancel/").status_code == 409


def test_job_endpoints_are_in_the_schema(staff_api_client, db):
    schema = staff_api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert "/api/lands/{land_id}/medianalyse/" in schema["paths"]
    assert "/api/jobs/{id}/cancel/" in schema["paths"]
    assert "/api/jobs/" in schema["paths"]


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"depth": 99999999999999999999999}, "depth"),
        ({"depth": "99999999999999999999999"}, "depth"),
        ({"minrel": 2**31}, "minrel"),
        ({"minrel": -1}, "minrel"),
        ({"minrel": "\u00b2"}, "minrel"),
    ],
)
def test_out_of_range_job_parameters_are_a_400_naming_them(staff_api_client, land, body, parameter):
    # A number no column can hold was a 500 (OverflowError); a negative minrel was accepted
    # by jobs while the exports refused it.
    response = _start(staff_api_client, land.pk, body)
    assert response.status_code == 400
    assert parameter in response.json()["errors"]
    assert not AnalysisJob.objects.exists()
