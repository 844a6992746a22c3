"""Only media_analysis.tasks enqueues work: the services say what comes next, the tasks enqueue it after commit."""

import io

import pytest
from PIL import Image

from media_analysis import tasks
from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from media_analysis.models import AnalysisJob, JobStatus
from tests.factories import make_expression, make_land, make_media
from tests.support.http_server import Reply


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def enqueued(monkeypatch) -> list[tuple[str, int]]:
    """What the tasks module enqueues, by task, instead of running it."""
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(tasks, "plan_job_task", lambda job_id: calls.append(("plan", job_id)))
    monkeypatch.setattr(tasks, "cluster_land_task", lambda land_id: calls.append(("cluster", land_id)))
    return calls


def test_creating_a_job_enqueues_nothing(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        job = jobs.create_job(make_land(), JobParameters())
    assert job.status == JobStatus.PENDING
    assert callbacks == []


def test_start_job_enqueues_the_planning_once_the_row_is_committed(db, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        job = tasks.start_job(make_land(), JobParameters(force=True))
        assert enqueued == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert enqueued == [("plan", job.pk)]
    assert AnalysisJob.objects.get(pk=job.pk).force is True


def _one_chunk_job(land, *urls: str) -> int:
    page = make_expression(land)
    for url in urls:
        make_media(page, url=url)
    job = jobs.create_job(land, JobParameters())
    (chunk_id,) = jobs.plan_job(job.pk, chunk_size=10)
    return chunk_id


def test_a_job_completed_with_new_analyses_asks_for_its_land_to_be_clustered(
    db, http_server, enqueued, django_capture_on_commit_callbacks
):
    http_server.route("/a.png", Reply(body=_png(), content_type="image/png"))
    land = make_land()
    chunk_id = _one_chunk_job(land, http_server.url("/a.png"))

    outcome = jobs.run_chunk(chunk_id)
    assert (outcome.processed, outcome.job_completed, outcome.land_to_cluster) == (True, True, land.pk)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.follow_up(outcome)
    assert enqueued == [("cluster", land.pk)]
    assert jobs.run_chunk(chunk_id) == jobs.StepOutcome()  # a duplicate delivery does nothing


def test_a_job_without_new_analyses_needs_no_clustering(db, enqueued, django_capture_on_commit_callbacks):
    land = make_land()
    chunk_id = _one_chunk_job(land, "ftp://cdn.example/a.png")  # fails without touching the network

    with django_capture_on_commit_callbacks(execute=True):
        tasks.run_chunk_task(chunk_id)
    job = AnalysisJob.objects.get(land=land)
    assert (job.status, job.analysed, job.failed) == (JobStatus.COMPLETED, 0, 1)
    assert enqueued == []


def test_finalising_a_job_whose_chunks_are_done_completes_it(db):
    land = make_land()
    job = jobs.create_job(land, JobParameters())
    assert jobs.finalise_job(job.pk) == jobs.StepOutcome()  # not planned yet: not running
    make_media(make_expression(land))
    jobs.plan_job(job.pk, chunk_size=10)
    assert jobs.finalise_job(job.pk) == jobs.StepOutcome()  # a chunk is pending
    job.chunks.update(status="done")
    AnalysisJob.objects.filter(pk=job.pk).update(analysed=1)
    assert jobs.finalise_job(job.pk) == jobs.StepOutcome(job_completed=True, land_to_cluster=land.pk)
    assert AnalysisJob.objects.get(pk=job.pk).status == JobStatus.COMPLETED
