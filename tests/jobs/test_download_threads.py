"""The pipeline's request path: download threads wait for requests instead of being started per request, and the
host gate is asked without the pipeline's lock.

Both waited on the pipeline's lock before: a thread started per request under it (the dispatcher handing the
interpreter to each new thread), and every answer of the shared gate, a network round trip, with the download
threads ending meanwhile waiting for the lock.
"""

from __future__ import annotations

import threading

import pytest

from media_analysis.engine.fetch.hosts import HostSlot, LocalHostGate, Refusal
from media_analysis.jobs import batch as media_batch
from media_analysis.jobs import pipeline as pipeline_module
from media_analysis.jobs.pipeline import pipeline
from media_analysis.models import JobStatus
from tests.jobs.test_download_pipeline import Completions, _planned_job, _png, _run_async
from tests.support.http_server import Reply
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_download_thread_serves_a_host_taken_one_request_at_a_time(settings, http_server, monkeypatch):
    settings.MEDIA_ANALYSIS_PER_HOST_CONCURRENCY = 1
    monkeypatch.setattr(pipeline_module, "_instance", None)
    threads: list[threading.Thread] = []
    fetch_one = media_batch.fetch_one

    def recording_fetch(*args, **kwargs):
        threads.append(threading.current_thread())
        return fetch_one(*args, **kwargs)

    monkeypatch.setattr(media_batch, "fetch_one", recording_fetch)
    urls = [http_server.route(f"/one-{n}.png", Reply(body=_png(n), content_type="image/png")) for n in range(12)]
    job, chunk_ids = _planned_job(urls, chunk_size=12)
    completions = Completions()
    _run_async(chunk_ids, completions)
    completions.wait_for(*chunk_ids)
    job.refresh_from_db()
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, 12)
    assert len(threads) == 12
    # One request at a time: each is handed to the thread the previous one left idle.
    assert len(set(threads)) == 1
    assert threads[0].name == "pipeline-download"


class _HeldGate:
    """A gate whose ``acquire`` waits for ``go`` once ``asking`` is set: a shared gate slow to answer."""

    def __init__(self) -> None:
        self.inner = LocalHostGate(4)
        self.asking = threading.Event()
        self.go = threading.Event()

    def acquire(self, host: str) -> HostSlot | Refusal:
        self.asking.set()
        self.go.wait(60)
        return self.inner.acquire(host)

    def try_acquire(self, host: str) -> HostSlot | None:
        answer = self.acquire(host)
        return answer if isinstance(answer, HostSlot) else None

    def release(self, slot: HostSlot) -> None:
        self.inner.release(slot)

    def watch_releases(self, callback) -> None:
        pass

    def pause(self, host: str, seconds: float) -> None:
        self.inner.pause(host, seconds)

    def ready_in(self, host: str) -> float:
        return self.inner.ready_in(host)


def test_the_pipeline_is_not_locked_while_the_host_gate_answers(http_server, monkeypatch):
    gate = _HeldGate()
    monkeypatch.setattr(pipeline_module, "host_gate", lambda: gate)
    monkeypatch.setattr(pipeline_module, "_instance", None)
    url = http_server.route("/gated.png", Reply(body=_png(3), content_type="image/png"))
    job, chunk_ids = _planned_job([url], chunk_size=1)
    pipe = pipeline()
    completions = Completions()
    try:
        _run_async(chunk_ids, completions)
        assert gate.asking.wait(30), "the gate was never asked"
        # The dispatcher waits for the gate's answer: the pipeline's state can still be read (its lock is free).
        answered = threading.Event()
        threading.Thread(target=lambda: (pipe.stats(), answered.set()), daemon=True).start()
        assert answered.wait(10), "the pipeline's lock was held while the gate answered"
        assert http_server.hits() == 0
    finally:
        gate.go.set()
    completions.wait_for(*chunk_ids)
    job.refresh_from_db()
    assert (job.status, job.analysed) == (JobStatus.COMPLETED, 1)
    wait_until(lambda: not gate.inner._hosts["127.0.0.1"].holders, timeout=30, what="the slot to be released")
