"""Errors of the corpus importer."""

from __future__ import annotations


class ImportFailed(Exception):
    """A legacy database cannot be imported (not SQLite, not a MyWebIntelligence schema...)."""


class UnreadableLegacyValue(ValueError):
    """One value of a legacy row (date, repr-encoded colours, EXIF...) cannot be understood.

    The importer stores None instead and counts a warning; it never aborts a land for it.
    """
