"""A media's text as the pages show it."""

from __future__ import annotations

from lands.models import Media
from media_analysis.models import MediaText, TextStatus


def text_of(media: Media) -> str:
    """The text read in ``media``, or "" when none was (the ``ocr`` row selected with it, or read now)."""
    try:
        record = media.ocr
    except MediaText.DoesNotExist:
        return ""
    return record.text if record.status == TextStatus.TEXT else ""
