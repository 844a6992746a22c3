"""The pipeline asks a shared host gate without holding its lock.

The shared gate answers over the network; while the dispatcher held the pipeline's lock for it, every download
thread ending meanwhile (and the analyses, and the workers submitting) waited for that round trip too.
"""

from __future__ import annotations

import threading

import pytest

from media_analysis.engine.fetch.hosts import HostSlot, LocalHostGate, Refusal
from media_analysis.jobs import pipeline as pipeline_module
from media_analysis.jobs.pipeline import pipeline
from media_analysis.models import JobStatus
from tests.jobs.test_download_pipeline import Completions, _planned_job, _png, _run_async
from tests.support.http_server import Reply
from tests.support.processes import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


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

    def renew(self, slot: HostSlot) -> HostSlot | Refusal:
        return self.inner.renew(slot)

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
