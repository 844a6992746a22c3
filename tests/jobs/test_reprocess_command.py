"""reprocess_media in the foreground: same job row and parameters as the API, follow-up work enqueued by tasks."""

import io

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from media_analysis import tasks
from media_analysis.models import AnalysisJob, JobStatus
from tests.factories import make_expression, make_land, make_media
from tests.support.http_server import Reply


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_foreground_run_completes_the_job_then_enqueues_the_clustering(
    db, http_server, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    clustered: list[int] = []
    monkeypatch.setattr(tasks, "cluster_land_task", clustered.append)
    http_server.route("/a.png", Reply(body=_png(), content_type="image/png"))
    land = make_land()
    make_media(make_expression(land, depth=0), url=http_server.url("/a.png"))
    out = io.StringIO()

    with django_capture_on_commit_callbacks(execute=True):
        call_command("reprocess_media", "--land-id", str(land.pk), "--no-progress", stdout=out)

    job = AnalysisJob.objects.get(land=land)
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, 1)
    assert f"Job {job.pk} completed" in out.getvalue()
    assert clustered == [land.pk]


def test_bad_options_are_reported_with_the_shared_messages(db):
    land = make_land()
    with pytest.raises(CommandError, match=r"depth: must be >= 0 \(got -1\)"):
        call_command("reprocess_media", "--land-id", str(land.pk), "--depth", "-1")
    with pytest.raises(CommandError, match="unknown media type"):
        call_command("reprocess_media", "--land-id", str(land.pk), "--type", "img,pdf")
    assert not AnalysisJob.objects.exists()


def test_dry_run_writes_nothing(db):
    land = make_land()
    make_media(make_expression(land, depth=0))
    out = io.StringIO()
    call_command("reprocess_media", "--land-id", str(land.pk), "--dry-run", stdout=out)
    assert "1 would be analysed" in out.getvalue()
    assert not AnalysisJob.objects.exists()
