"""The pipeline's trace (``MEDIA_ANALYSIS_PIPELINE_TRACE``): every request, batch and write of a job, readable."""

from __future__ import annotations

import pytest

from bench.pipeline_trace import analyse, load
from media_analysis.jobs import pipeline as pipeline_module
from media_analysis.models import JobStatus
from tests.jobs.test_download_pipeline import Completions, _planned_job, _png, _run_async
from tests.support.http_server import Reply
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_traced_job_records_each_request_batch_and_write(settings, http_server, tmp_path, monkeypatch):
    settings.MEDIA_ANALYSIS_PIPELINE_TRACE = str(tmp_path)
    monkeypatch.setattr(pipeline_module, "_instance", None)  # a pipeline that reads the setting
    urls = [http_server.route(f"/traced-{n}.png", Reply(body=_png(n), content_type="image/png")) for n in range(3)]
    urls.append(http_server.route("/missing.png", Reply(status=404)))
    job, chunk_ids = _planned_job(urls, chunk_size=2)
    completions = Completions()
    _run_async(chunk_ids, completions)
    completions.wait_for(*chunk_ids)
    job.refresh_from_db()
    assert (job.status, job.analysed, job.failed) == (JobStatus.COMPLETED, 3, 1)

    # A chunk's outcomes are recorded before its "written" event is traced and the trace flushed.
    def written() -> bool:
        try:
            events = load(tmp_path)[0]
        except ValueError:  # a flush in progress: a line read half written
            return False
        return sum(event["e"] == "written" for event in events) == len(chunk_ids)

    wait_until(written, timeout=30, interval=0.05, what="the trace of every chunk's write")
    events, _job = load(tmp_path)
    names = [event["e"] for event in events]
    assert names.count("submit") == names.count("ready") == names.count("written") == len(chunk_ids)
    assert {event["chunk"] for event in events if event["e"] == "written"} == set(chunk_ids)
    result = analyse(tmp_path, limit=4)
    assert result["requests"] == 4
    assert result["outcomes"] == {"body": 3, "failed": 1}
    assert result["first_submit"] <= result["first_start"] <= result["last_end"] <= result["last_written"]
    assert result["idle_with_work"] >= 0
