"""The pipeline's trace (``MEDIA_ANALYSIS_PIPELINE_TRACE``): every request, batch and write of a job, readable."""

from __future__ import annotations

import json

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


def test_free_slots_waiting_for_a_batch_not_yet_submitted_are_counted_apart(tmp_path):
    def event(t: float, name: str, **fields) -> str:
        return json.dumps({"t": 1000.0 + t, "e": name, **fields})

    lines = [
        event(0.0, "submit", chunk=1, urls=1, conditional=1, hosts={"a": 1}),
        event(0.0, "start", n=1, host="a", chunk=1, cond=True),
        event(1.0, "end", n=1, host="a", chunk=1, cond=True, kind="unchanged"),
        # For a second the host has a free slot and nothing queued, while the next batch holds one of its URLs.
        event(2.0, "submit", chunk=2, urls=1, conditional=1, hosts={"a": 1}),
        event(2.5, "start", n=2, host="a", chunk=2, cond=True),
        event(3.0, "end", n=2, host="a", chunk=2, cond=True, kind="unchanged"),
    ]
    (tmp_path / "pipeline-1.jsonl").write_text("\n".join(lines) + "\n")
    result = analyse(tmp_path, limit=1)
    assert result["idle_for_later_batches"] == pytest.approx(1.0)
    assert result["idle_with_work"] == pytest.approx(0.5)  # queued from 2.0, started at 2.5
