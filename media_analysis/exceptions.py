"""Every domain exception of medianalyse, in one place."""

from __future__ import annotations


class MedianalyseError(Exception):
    """Base of the project's own errors."""


class InvalidParameters(MedianalyseError):
    """Parameters given by a user (API, admin form, command line) are not valid."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class ImportFailed(MedianalyseError):
    """A legacy database cannot be imported (not SQLite, not a MyWebIntelligence schema...)."""
