"""A land's most frequent words and phrases in its pictures, for the land's page.

Words are counted exactly, in one grouped query over the stored words (``MediaWord``)
of the land's media: its cost follows the number of word rows of the land, not the
length of its texts. Phrases (two-word sequences) are not stored: they are counted in
the texts of a bounded sample, the land's ``PHRASE_SAMPLE`` latest pictures with text
(by media id), each text cut at ``PHRASE_TEXT_CHARACTERS``; the page says so.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import Count, Sum
from django.db.models.functions import Left

from media_analysis.engine.text.words import phrases
from media_analysis.models import MediaText, MediaWord

TOP_WORDS = 30
TOP_PHRASES = 20
PHRASE_SAMPLE = 2000
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
    phrase_sample: int  # texts the phrases were counted in

    @property
    def empty(self) -> bool:
        return not self.words


def frequent_words(land_id: int, limit: int = TOP_WORDS) -> list[Frequent]:
    """The words carried by the most pictures of the land (ties by the word), in one query."""
    rows = (
        MediaWord.objects.filter(media__expression__land_id=land_id)
        .values("word")
        .annotate(pictures=Count("media_id"), occurrences=Sum("count"))
        .order_by("-pictures", "-occurrences", "word")[:limit]
    )
    return [Frequent(row["word"], row["pictures"], row["occurrences"]) for row in rows]


def frequent_phrases(land_id: int, limit: int = TOP_PHRASES, sample: int = PHRASE_SAMPLE) -> tuple[list[Frequent], int]:
    """The two-word sequences carried by the most pictures among the sample, and the sample's size."""
    texts = (
        MediaText.objects.with_text()
        .filter(media__expression__land_id=land_id)
        .order_by("-media_id")
        .annotate(head=Left("text", PHRASE_TEXT_CHARACTERS))
        .values_list("head", flat=True)[:sample]
    )
    pictures: Counter[str] = Counter()
    read = 0
    for text in texts:
        read += 1
        # A picture counts once per phrase, however often its text repeats it.
        pictures.update(set(phrases(text)))
    # A phrase seen in one picture only is that picture's text, not something that travels.
    top = [(phrase, n) for phrase, n in pictures.most_common() if n > 1]
    top.sort(key=lambda item: (-item[1], item[0]))
    return [Frequent(phrase, n) for phrase, n in top[:limit]], read


def land_words(land_id: int) -> LandWords:
    """What the land's page lists: two queries whatever the land's size (one when it has no word)."""
    words = frequent_words(land_id)
    if not words:
        return LandWords([], [], 0)
    found_phrases, sample = frequent_phrases(land_id)
    return LandWords(words, found_phrases, sample)
