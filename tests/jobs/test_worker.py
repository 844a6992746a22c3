"""The consumer start-up hook tunes its process; library code does not."""

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from media_analysis import tasks
from media_analysis.jobs import worker


def _numpy_blas_threads() -> list[int]:
    # numpy's own BLAS, the one the analysis calls (scipy, loaded by other tests, ships another).
    return [
        info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas" and "numpy" in info["filepath"]
    ]


@pytest.fixture
def quiet_hook(settings, monkeypatch) -> list[str]:
    """The start-up hook without its database and metrics work, recording the allocator calls."""
    calls: list[str] = []
    settings.MEDIA_ANALYSIS_METRICS_PORT = 0
    monkeypatch.setattr(tasks, "recover_lost_work", lambda: (0, 0))
    monkeypatch.setattr("django.db.close_old_connections", lambda **kwargs: None)

    def keep_freed_memory() -> bool:
        calls.append("allocator")
        return True

    monkeypatch.setattr(worker, "keep_freed_memory", keep_freed_memory)
    return calls


def test_the_start_up_hook_keeps_blas_to_one_thread_per_caller(quiet_hook, settings):
    settings.MEDIA_ANALYSIS_KEEP_FREED_MEMORY = False
    with threadpool_limits(limits=2, user_api="blas"):  # restored on leaving, whatever the hook did
        assert set(_numpy_blas_threads()) == {2}
        tasks._prepare_worker()
        assert set(_numpy_blas_threads()) == {1}
    assert quiet_hook == []


def test_the_allocator_is_tuned_when_the_setting_asks(quiet_hook, settings):
    settings.MEDIA_ANALYSIS_KEEP_FREED_MEMORY = True
    with threadpool_limits(limits=2, user_api="blas"):
        worker.tune_process()
    assert quiet_hook == ["allocator"]


def test_the_allocator_thresholds_are_accepted_once_and_again():
    # On glibc (Debian, the supported platform) the thresholds are accepted, and again harmlessly.
    assert worker.keep_freed_memory() is True
    assert worker.keep_freed_memory() is True


def test_the_arenas_are_capped_unless_the_environment_sets_malloc_arena_max(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert (worker._M_ARENA_MAX, worker.ARENA_MAX) in worker.allocator_parameters()
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    parameters = dict(worker.allocator_parameters())
    assert worker._M_ARENA_MAX not in parameters
    assert parameters[worker._M_MMAP_THRESHOLD] == worker.MMAP_THRESHOLD
