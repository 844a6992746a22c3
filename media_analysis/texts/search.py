"""Filtering media by the words of their text: the one rule of the gallery, the media list and the API.

A search is a few words; a media matches when its text holds every one of them.
PostgreSQL answers with its full-text search over ``MediaText.text`` (a GIN index on
the document, see ``MediaTextQuerySet.matching_all``); other databases with the stored
words (``MediaWord``), one indexed look-up per word. Either way the media are found
from the words, never by reading every text of a land.
"""

from __future__ import annotations

from django.db import connections
from django.db.models import QuerySet

from lands.models import Media
from media_analysis.engine.text.words import MAX_LENGTH, tokens
from media_analysis.models import MediaText, MediaWord

# A search is a few words typed into a box; longer ones are a paste, answered 400.
MAX_QUERY_CHARACTERS = 200
MAX_QUERY_WORDS = 8


class BadTextQuery(ValueError):
    """The search text cannot be searched; the message says why, for a 400 naming ``text``."""


def query_words(text: str) -> list[str]:
    """The distinct words of a search, in the order typed; ``BadTextQuery`` when there is none or too many."""
    if len(text) > MAX_QUERY_CHARACTERS:
        raise BadTextQuery(f"text must be at most {MAX_QUERY_CHARACTERS} characters")
    found = list(dict.fromkeys(tokens(text)))
    if not found:
        raise BadTextQuery(
            f"text must hold a word of at least two letters or digits (and at most {MAX_LENGTH}), got {text[:40]!r}"
        )
    if len(found) > MAX_QUERY_WORDS:
        raise BadTextQuery(f"text must hold at most {MAX_QUERY_WORDS} words, got {len(found)}")
    return found


def with_words(queryset: QuerySet[Media], words: list[str]) -> QuerySet[Media]:
    """The media of ``queryset`` whose text holds every one of ``words`` (already normalised)."""
    if connections[queryset.db].vendor == "postgresql":
        return queryset.filter(pk__in=MediaText.objects.matching_all(words).values("media_id"))
    for word in words:
        queryset = queryset.filter(pk__in=MediaWord.objects.of_word(word).values("media_id"))
    return queryset
