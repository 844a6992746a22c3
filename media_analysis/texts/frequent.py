"""A land's most frequent words and phrases in its pictures, for the land's page.

Both are counted in a bounded sample: the land's ``SAMPLE`` latest pictures with
text (by media id), so that the page costs the same on a land of a million
media as on a small one. Words come from the stored words of those pictures
(``MediaWord``, one grouped query); phrases (two-word sequences, not stored) from
their texts, each cut at ``PHRASE_TEXT_CHARACTERS``. A land with fewer pictures
with text is counted whole, and the page says which it was. The gallery's search
for a word gives its exact count over the whole land.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Left

from media_analysis.engine.text.words import phrases
from media_analysis.models import MediaText, MediaWord

TOP_WORDS = 30
TOP_PHRASES = 20
SAMPLE = 5000
PHRASE_TEXT_CHARACTERS = 2000


@dataclass(frozen=True)
class Frequent:
    """A word or phrase, the pictures that carry it, and its occurrences in them (words only)."""

    text: str
    pictures: int
    occurrences: int | None = None


@dataclass(frozen=True)
class LandWords:
    words: list[Frequent]
    phrases: list[Frequent]
    sample: int  # pictures with text counted
    sampled: bool  # True when the land has more pictures with text than were counted

    @property
    def empty(self) -> bool:
        return not self.words


def _latest_texts(land_id: int, sample: int) -> QuerySet[MediaText]:
    return MediaText.objects.with_text().filter(media__expression__land_id=land_id).order_by("-media_id")[:sample]


def frequent_words(land_id: int, limit: int = TOP_WORDS, sample: int = SAMPLE) -> list[Frequent]:
    """The words carried by the most pictures of the sample (ties by occurrences, then the word), in one query."""
    rows = (
        MediaWord.objects.filter(media_id__in=_latest_texts(land_id, sample).values("media_id"))
        .values("word")
        .annotate(pictures=Count("media_id"), occurrences=Sum("count"))
        .order_by("-pictures", "-occurrences", "word")[:limit]
    )
    return [Frequent(row["word"], row["pictures"], row["occurrences"]) for row in rows]


def frequent_phrases(land_id: int, limit: int = TOP_PHRASES, sample: int = SAMPLE) -> tuple[list[Frequent], int]:
    """The two-word sequences carried by two pictures of the sample or more, and the pictures read, in one query."""
    texts = (
        _latest_texts(land_id, sample)
        .annotate(head=Left("text", PHRASE_TEXT_CHARACTERS))
        .values_list("head", flat=True)
    )
    pictures: Counter[str] = Counter()
    read = 0
    for text in texts:
        read += 1
        # A picture counts once per phrase, however often its text repeats it.
        pictures.update(set(phrases(text)))
    # A phrase seen in one picture only is that picture's text, not something that travels.
    top = sorted(((phrase, n) for phrase, n in pictures.items() if n > 1), key=lambda item: (-item[1], item[0]))
    return [Frequent(phrase, n) for phrase, n in top[:limit]], read


def land_words(land_id: int, sample: int = SAMPLE) -> LandWords:
    """What the land's page lists: two queries whatever the land's size (one when it has no word)."""
    words = frequent_words(land_id, sample=sample)
    if not words:
        return LandWords([], [], 0, False)
    found_phrases, read = frequent_phrases(land_id, sample=sample)
    return LandWords(words, found_phrases, read, read >= sample)
