"""A whole job through the task path (tasks run inline), from trigger to clusters."""

import io

import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from lands.models import AnalysisStatus, Media
from media_analysis.models import AnalysisJob, JobStatus
from tests.factories import make_expression, make_land, make_media
from tests.support.http_server import Reply


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.mark.django_db(transaction=True)
def test_api_trigger_to_completed_job_and_near_duplicate_clusters(staff_api_client, http_server, settings):
    settings.MEDIA_ANALYSIS_CHUNK_SIZE = 3
    china = Image.fromarray(load_sample_image("china.jpg"))
    flower = Image.fromarray(load_sample_image("flower.jpg"))
    files = {
        "/china.jpg": _jpeg(china),
        "/china-copy.jpg": _jpeg(china),  # the same bytes on another site
        "/china-half.jpg": _jpeg(china.resize((china.width // 2, china.height // 2)), quality=60),
        "/flower.jpg": _jpeg(flower),
        "/page.jpg": b"<!doctype html><title>moved</title>",
    }
    land = make_land()
    for path, body in files.items():
        http_server.route(path, Reply(body=body, content_type="image/jpeg"))
        make_media(make_expression(land, depth=0, relevance=1), url=http_server.url(path))

    response = staff_api_client.post(f"/api/lands/{land.pk}/medianalyse/", {}, format="json")

    assert response.status_code == 202
    job = AnalysisJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.COMPLETED
    # The copy of china.jpg, the same bytes, copies its analysis.
    assert (job.total, job.analysed, job.reused, job.failed, job.chunks_total) == (5, 3, 1, 1, 2)
    assert job.recent_failures[0]["error_class"] == "not_an_image"
    by_path = {m.url.rsplit("/", 1)[1]: m for m in Media.objects.of_land(land.pk)}
    assert by_path["page.jpg"].analysis_status == AnalysisStatus.FAILED
    china_cluster = {by_path[n].cluster_id for n in ("china.jpg", "china-copy.jpg", "china-half.jpg")}
    assert len(china_cluster) == 1
    assert None not in china_cluster
    assert by_path["flower.jpg"].cluster_id is None  # a lone picture is not a cluster
    detail = staff_api_client.get(f"/api/jobs/{job.pk}/").json()
    assert (detail["progress"], detail["success_rate"]) == (100.0, 80.0)
