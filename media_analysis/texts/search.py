"""Filtering media by the text read in their pictures: the one rule of the gallery, the media list and the API.

The query syntax, the same on every database:

* words typed apart must all appear in the text, anywhere and in any order;
* a phrase in double quotes (``"red car"``, typographic quotes too) must appear as
  typed: its words one after the other, in that order, on one line of the text, with
  nothing but spaces and punctuation between them;
* a word is a run of letters or digits (``media_analysis.engine.text.words``); case
  does not count, accents do (``café`` is not ``cafe``). No other operator: ``-`` and
  ``or`` are punctuation and a word.

The media are found from the words, never by reading every text of a land: PostgreSQL's
full-text index over ``MediaText.text`` (``MediaTextQuerySet.matching_all``), other
databases the stored words (``MediaWord``), one indexed look-up per word. A phrase is
then checked on the texts of those candidates only (``MediaTextQuerySet.holding_phrase``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeVar

from django.db import connections
from django.db.models import QuerySet

from lands.models import Media
from media_analysis.engine.text.words import MAX_LENGTH, MIN_LENGTH, runs, tokens
from media_analysis.models import MediaText, MediaWord

# What a queryset yields (model instances, or values() rows): filtering keeps it.
_Row = TypeVar("_Row")

# A search is a few words typed into a box; longer ones are a paste, answered 400.
MAX_QUERY_CHARACTERS = 200
MAX_QUERY_WORDS = 8
# ASCII double quotes and the typographic ones a pasted phrase brings; any of them opens or closes.
_QUOTES_RE = re.compile(r"[\"\u201c\u201d\u201e\u00ab\u00bb]")


class BadTextQuery(ValueError):
    """The search text cannot be searched; the message says why, for a 400 naming ``text``."""


@dataclass(frozen=True)
class TextQuery:
    """A parsed search: every word to find (the phrases' searchable words included), and the phrases."""

    words: tuple[str, ...]
    phrases: tuple[tuple[str, ...], ...]


def parse_query(text: str) -> TextQuery:
    """The words and quoted phrases of a search; ``BadTextQuery`` when there is no word or too many.

    Outside quotes, what ``tokens`` keeps is a word. Inside them every run of letters or
    digits counts, single ones too (``"plan b"``), but a phrase needs one word of
    ``MIN_LENGTH`` to ``MAX_LENGTH`` characters for the index to find it. A quote left open
    runs to the end of the text.
    """
    if len(text) > MAX_QUERY_CHARACTERS:
        raise BadTextQuery(f"text must be at most {MAX_QUERY_CHARACTERS} characters")
    found: dict[str, None] = {}
    phrases: dict[tuple[str, ...], None] = {}
    for index, part in enumerate(_QUOTES_RE.split(text)):
        if index % 2 == 0:
            found.update(dict.fromkeys(tokens(part)))
            continue
        sequence = tuple(runs(part))
        searchable = [run for run in sequence if MIN_LENGTH <= len(run) <= MAX_LENGTH]
        if sequence and not searchable:
            raise BadTextQuery(
                f"a quoted phrase must hold a word of at least two letters or digits (and at most {MAX_LENGTH}), "
                f"got {part[:40]!r}"
            )
        found.update(dict.fromkeys(searchable))
        if len(sequence) > 1:
            phrases[sequence] = None
    if not found:
        raise BadTextQuery(
            f"text must hold a word of at least two letters or digits (and at most {MAX_LENGTH}), got {text[:40]!r}"
        )
    if len(found) > MAX_QUERY_WORDS:
        raise BadTextQuery(f"text must hold at most {MAX_QUERY_WORDS} words, got {len(found)}")
    return TextQuery(words=tuple(found), phrases=tuple(phrases))


def with_text(queryset: QuerySet[Media, _Row], text: str) -> QuerySet[Media, _Row]:
    """The media of ``queryset`` whose text answers the search ``text`` (``BadTextQuery`` when it cannot)."""
    return with_query(queryset, parse_query(text))


def with_query(queryset: QuerySet[Media, _Row], query: TextQuery) -> QuerySet[Media, _Row]:
    """The media of ``queryset`` whose text holds every word and every phrase of ``query``."""
    if connections[queryset.db].vendor == "postgresql":
        texts = MediaText.objects.matching_all(query.words)
        for phrase in query.phrases:
            texts = texts.holding_phrase(phrase)
        return queryset.filter(pk__in=texts.values("media_id"))
    in_phrases = {word for phrase in query.phrases for word in phrase}
    for word in query.words:
        if word not in in_phrases:
            queryset = queryset.filter(pk__in=MediaWord.objects.of_word(word).values("media_id"))
    for phrase in query.phrases:
        # The phrase is checked on the texts holding all its words, found from the longest (long words are the
        # rarer ones), never on a land's every text.
        searchable = sorted(dict.fromkeys(run for run in phrase if MIN_LENGTH <= len(run) <= MAX_LENGTH), key=len)
        texts = MediaText.objects.all()
        for word in reversed(searchable):
            texts = texts.filter(media_id__in=MediaWord.objects.of_word(word).values("media_id"))
        queryset = queryset.filter(pk__in=texts.holding_phrase(phrase).values("media_id"))
    return queryset
