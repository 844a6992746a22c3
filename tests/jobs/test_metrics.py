import pytest

from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from tests.factories import make_land


@pytest.fixture
def one_job_of_each(db):
    running = jobs.create_job(make_land(), JobParameters())
    jobs.plan_job(jobs.create_job(make_land(), JobParameters()).pk, chunk_size=10)
    return running


def test_metrics_need_a_staff_session_or_the_token(client, plain_user, admin_user, settings, one_job_of_each):
    assert client.get("/metrics").status_code == 401
    client.force_login(plain_user)
    assert client.get("/metrics").status_code == 401
    settings.MEDIANALYSE_METRICS_TOKEN = "s3cret"
    client.logout()
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    by_token = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
    assert by_token.status_code == 200
    client.force_login(admin_user)
    assert client.get("/metrics").status_code == 200


def test_metrics_show_jobs_by_status_and_pipeline_families(admin_client, one_job_of_each):
    body = admin_client.get("/metrics").content.decode()
    assert 'media_analysis_jobs{status="pending"} 1.0' in body
    assert 'media_analysis_jobs{status="completed"} 1.0' in body  # an empty selection completes at once
    assert "media_analysis_jobs_active 1.0" in body
    for family in (
        "media_analysis_download_seconds",
        "media_analysis_analysis_seconds",
        "media_analysis_download_bytes",
        "media_analysis_chunk_seconds",
    ):
        assert f"# TYPE {family} histogram" in body
    assert "django_http_requests_total_by_method" in body  # django-prometheus' own
