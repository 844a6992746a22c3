"""The texts of a near-duplicate cluster's members: side by side, and as distinct captions.

The same picture re-captioned is how a meme changes: captions are told apart by
their normalised text (``engine.text.words.normalised``: case, punctuation and line
breaks aside), and each is listed with where (domain, page) and when (first seen)
it appeared. A page's date is its publication date, else its fetch date, else its
crawl date, as the cluster page dates appearances.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db.models.functions import Coalesce

from media_analysis.engine.text.words import normalised
from media_analysis.models import MediaText

# Places listed under one caption (all are counted).
PLACES_SHOWN = 20
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_APPEARED = Coalesce(
    "media__expression__published_at", "media__expression__fetched_at", "media__expression__created_at"
)


@dataclass(frozen=True)
class CaptionPlace:
    media_id: int
    domain: str
    page_id: int
    page_url: str
    page_title: str | None
    seen_at: datetime | None


@dataclass
class Caption:
    text: str  # as read in its earliest appearance
    key: str  # the normalised text that tells captions apart
    pictures: int = 0
    places: list[CaptionPlace] = field(default_factory=list)  # earliest first, at most PLACES_SHOWN
    domains: set[str] = field(default_factory=set)

    @property
    def first(self) -> CaptionPlace | None:
        return self.places[0] if self.places else None

    @property
    def more_places(self) -> int:
        return self.pictures - len(self.places)


def member_texts(media_ids: Iterable[int]) -> dict[int, MediaText]:
    """The text of each media that has one, in one query (for the members shown side by side)."""
    ids = list(media_ids)
    if not ids:
        return {}
    return {text.media_id: text for text in MediaText.objects.with_text().filter(media_id__in=ids)}


def cluster_captions(cluster_id: int) -> list[Caption]:
    """The cluster's distinct captions, the earliest seen first, in one query (one light row per member with text)."""
    rows = (
        MediaText.objects.with_text()
        .filter(media__cluster_id=cluster_id)
        .annotate(seen_at=_APPEARED)
        .values_list(
            "media_id",
            "text",
            "media__expression__domain__name",
            "media__expression_id",
            "media__expression__url",
            "media__expression__title",
            "seen_at",
        )
    )
    places: list[tuple[str, str, CaptionPlace]] = []
    for media_id, text, domain, page_id, page_url, page_title, seen_at in rows:
        key = normalised(text)
        if key:
            places.append((key, text, CaptionPlace(media_id, domain, page_id, page_url, page_title, seen_at)))
    places.sort(key=lambda item: (item[2].seen_at is None, item[2].seen_at or _EARLIEST, item[2].media_id))
    captions: dict[str, Caption] = {}
    for key, text, place in places:
        caption = captions.setdefault(key, Caption(text=text.strip(), key=key))
        caption.pictures += 1
        caption.domains.add(place.domain)
        if len(caption.places) < PLACES_SHOWN:
            caption.places.append(place)
    return list(captions.values())
