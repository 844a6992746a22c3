"""A chunk reads its job's row without the job's own list of media: a chunk's cost does not grow with the job."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from lands.models import Media
from media_analysis.jobs import service as jobs
from media_analysis.jobs.parameters import JobParameters
from media_analysis.models import AnalysisJob, JobStatus
from tests.factories import make_expression, make_land, make_media

CHUNK = 10
JOB_MEDIA_IDS = '"media_analysis_analysisjob"."media_ids"'


def _job(media: int, explicit: bool) -> AnalysisJob:
    land = make_land()
    page = make_expression(land)
    # ftp: each media fails at once, without touching the network.
    ids = [make_media(page, url=f"ftp://cdn.example/{land.pk}/{i}.png").pk for i in range(media)]
    return jobs.create_job(land, JobParameters(), media_ids=ids if explicit else None)


def _first_chunk_queries(job: AnalysisJob) -> list[str]:
    chunk_ids = jobs.plan_job(job.pk, chunk_size=CHUNK)
    with CaptureQueriesContext(connection) as queries:
        outcome = jobs.run_chunk(chunk_ids[0])
    assert outcome is not None
    assert outcome.processed
    return [query["sql"] for query in queries.captured_queries]


def test_a_chunk_of_a_job_given_its_media_reads_the_same_queries_whatever_the_job_size(db):
    small = _first_chunk_queries(_job(CHUNK * 2, explicit=True))
    large = _first_chunk_queries(_job(CHUNK * 40, explicit=True))
    selected = _first_chunk_queries(_job(CHUNK * 2, explicit=False))

    # The job's list of ids is never read by a chunk (nor loaded later by touching the deferred field) ...
    assert not [sql for sql in small + large if JOB_MEDIA_IDS in sql]
    # ... and a chunk asks as many queries as a chunk of a job chosen by its parameters.
    assert len(small) == len(large) == len(selected)


def test_the_last_chunk_completes_a_job_given_its_media_with_exact_counts(db):
    job = _job(CHUNK * 3, explicit=True)
    chunk_ids = jobs.plan_job(job.pk, chunk_size=CHUNK)
    outcomes = [jobs.run_chunk(chunk_id) for chunk_id in chunk_ids]
    assert all(outcome is not None for outcome in outcomes)

    job.refresh_from_db()
    assert [outcome.job_completed for outcome in outcomes if outcome] == [False, False, True]
    assert (job.status, job.total, job.failed, job.chunks_done) == (JobStatus.COMPLETED, CHUNK * 3, CHUNK * 3, 3)
    # The job keeps its list: the admin and a replanning read it.
    assert sorted(job.media_ids) == sorted(Media.objects.filter(expression__land=job.land).values_list("pk", flat=True))
