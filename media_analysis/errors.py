"""Errors of the job, cluster and export services that reach a user as a message."""

from __future__ import annotations


class MedianalyseError(Exception):
    """Base of the services' own errors."""


class InvalidParameters(MedianalyseError):
    """Parameters given by a user (API, admin form, command line) are not valid."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class JobAlreadyRunning(MedianalyseError):
    """A land already has an active analysis job."""

    def __init__(self, job) -> None:
        super().__init__(f"Land {job.land_id} already has an active analysis job ({job.pk}, {job.status})")
        self.job = job
