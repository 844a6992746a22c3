"""A land's most frequent words and phrases in its pictures, for the land's page.

Both are counted in a bounded sample: the land's ``SAMPLE`` latest pictures with
text (by media id), so that the page costs the same on a land of a million media
as on a small one. One query reads the sample's ids and texts (each cut at
``PHRASE_TEXT_CHARACTERS``): the phrases (two-word sequences, not stored) are
counted from the texts, the words by one grouped query over those pictures'
stored words (``MediaWord``). A land with fewer pictures with text is counted
whole, and the page says which it was. The gallery's search for a word gives its
exact count over the whole land.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.db.models.functions import Left

from lands.aggregates import is_dense_land
from lands.models import Expression
from media_analysis.engine.text.words import phrases
from media_analysis.models import MediaText, MediaWord

TOP_WORDS = 30
TOP_PHRASES = 20
SAMPLE = 2000
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


def latest_texts(land_id: int, dense: bool, sample: int = SAMPLE) -> list[tuple[int, str]]:
    """(media id, start of its text) of the land's ``sample`` latest pictures with text, in one query.

    ``dense`` (``lands.aggregates.is_dense_land``): the texts are walked from the latest, each one's page
    probed, which stops at the sample; otherwise the land's pages lead, as ``Media.in_land`` decides. A
    non-empty text rather than the status picks them: filtered by status, SQLite read every text of that
    status through its index before sorting.
    """
    of_land: Q | Exists = (
        Exists(Expression.objects.filter(pk=OuterRef("media__expression_id"), land_id=land_id))
        if dense
        else Q(media__expression__land_id=land_id)
    )
    return list(
        MediaText.objects.exclude(text="")
        .filter(of_land)
        .order_by("-media_id")
        .annotate(head=Left("text", PHRASE_TEXT_CHARACTERS))
        .values_list("media_id", "head")[:sample]
    )


def frequent_words(media_ids: Sequence[int], limit: int = TOP_WORDS) -> list[Frequent]:
    """The words carried by the most of these pictures (ties by occurrences, then the word), in one query.

    The ids are given as a list: the stored words are then read through their (media, word) index, the
    sample's rows only, where a subquery let PostgreSQL scan every land's words.
    """
    if not media_ids:
        return []
    rows = (
        MediaWord.objects.filter(media_id__in=list(media_ids))
        .values("word")
        .annotate(pictures=Count("media_id"), occurrences=Sum("count"))
        .order_by("-pictures", "-occurrences", "word")[:limit]
    )
    return [Frequent(row["word"], row["pictures"], row["occurrences"]) for row in rows]


def frequent_phrases(texts: Iterable[str], limit: int = TOP_PHRASES) -> list[Frequent]:
    """The two-word sequences carried by two of these texts or more, the most carried first."""
    pictures: Counter[str] = Counter()
    for text in texts:
        # A picture counts once per phrase, however often its text repeats it.
        pictures.update(set(phrases(text)))
    # A phrase seen in one picture only is that picture's text, not something that travels.
    top = sorted(((phrase, n) for phrase, n in pictures.items() if n > 1), key=lambda item: (-item[1], item[0]))
    return [Frequent(phrase, n) for phrase, n in top[:limit]]


def land_words(land_id: int, sample: int = SAMPLE) -> LandWords:
    """What the land's page lists: three queries whatever the land's size (two when it has no text)."""
    texts = latest_texts(land_id, is_dense_land(land_id), sample)
    if not texts:
        return LandWords([], [], 0, False)
    words = frequent_words([media_id for media_id, _ in texts])
    return LandWords(words, frequent_phrases(text for _, text in texts), len(texts), len(texts) >= sample)
