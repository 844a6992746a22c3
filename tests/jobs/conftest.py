"""Fixtures shared by the pipeline's tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from media_analysis.jobs import batch as media_batch


@pytest.fixture
def held_analyses(settings, monkeypatch) -> Iterator[threading.Semaphore]:
    """One analysis thread, each analysis waiting for a permit of the semaphore."""
    settings.MEDIA_ANALYSIS_ANALYSIS_THREADS = 1
    permits = threading.Semaphore(0)
    real_analyse = media_batch.analyse_image

    def held(content, options, **kwargs):
        assert permits.acquire(timeout=60), "an analysis waited for a permit too long"
        return real_analyse(content, options, **kwargs)

    monkeypatch.setattr(media_batch, "analyse_image", held)
    yield permits
    # Whatever a failed assertion left waiting goes through.
    for _ in range(1000):
        permits.release()
