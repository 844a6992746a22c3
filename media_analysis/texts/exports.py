"""What the text exports read: the words of a selection of media, and the picture-word graph's rows.

The caller (``exports.services``) chooses the media (a land's selected pages and
media types) and writes the files; these functions turn that selection into
ordered rows, each a fixed number of queries whatever the land's size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Case, Count, Exists, OuterRef, QuerySet, Sum, TextField, Value, When
from django.db.models.functions import Cast, Concat

from lands.models import Media
from media_analysis.models import MediaWord

TEXT_CSV_COLUMNS: tuple[str, ...] = ("media_id", "url", "word", "count")


def _picture_key(prefix: str = "") -> Case:
    """A picture's node: its cluster's when it has one (``cluster-<id>``), else its own (``media-<id>``)."""
    return Case(
        When(
            **{f"{prefix}cluster_id__isnull": False},
            then=Concat(Value("cluster-"), Cast(f"{prefix}cluster_id", TextField()), output_field=TextField()),
        ),
        default=Concat(Value("media-"), Cast(f"{prefix}id", TextField()), output_field=TextField()),
        output_field=TextField(),
    )


def media_node_id(media_id: int) -> str:
    return f"media-{media_id}"


def word_node_id(word: str) -> str:
    return f"word-{word}"


def word_rows(media: QuerySet[Media], chunk_size: int) -> Iterator[tuple[int, str, str, int]]:
    """(media id, URL, word, count) of every word of the selected media, by media then word."""
    return (
        MediaWord.objects.filter(media__in=media.values("pk"))
        .order_by("media_id", "word")
        .values_list("media_id", "media__url", "word", "count")
        .iterator(chunk_size=chunk_size)
    )


@dataclass(frozen=True)
class PictureNode:
    id: str
    label: str
    url: str
    thumbnail: str | None
    pictures: int
    text: str | None
    language: str | None
    cluster_id: int | None


@dataclass(frozen=True)
class WordNode:
    id: str
    word: str
    pictures: int
    occurrences: int


def picture_nodes(media: QuerySet[Media], chunk_size: int, *, merge_clusters: bool) -> Iterator[PictureNode]:
    """One node per selected picture that carries a word; with ``merge_clusters`` one per cluster instead
    (its earliest member by id names it), lone pictures keeping their own."""
    with_words = media.filter(Exists(MediaWord.objects.filter(media_id=OuterRef("pk"))))
    key = (
        _picture_key() if merge_clusters else Concat(Value("media-"), Cast("id", TextField()), output_field=TextField())
    )
    rows = (
        with_words.annotate(node_key=key)
        .order_by("node_key", "id")
        .values_list("node_key", "id", "url", "thumbnail_key", "cluster_id", "ocr__text", "ocr__language")
        .iterator(chunk_size=chunk_size)
    )
    first: tuple | None = None
    count = 0
    for row in rows:
        if first is not None and row[0] != first[0]:
            yield _picture_node(first, count)
            first, count = None, 0
        if first is None:
            first = row
        count += 1
    if first is not None:
        yield _picture_node(first, count)


def _picture_node(row: tuple, count: int) -> PictureNode:
    key, media_id, url, thumbnail, cluster_id, text, language = row
    if key.startswith("cluster-"):
        # A cluster's members carry variants of one text: the node names the cluster, the edges carry the words.
        return PictureNode(key, f"cluster {cluster_id}", url, thumbnail or None, count, None, None, cluster_id)
    return PictureNode(key, f"#{media_id}", url, thumbnail or None, 1, text or None, language or None, cluster_id)


def word_nodes(media: QuerySet[Media], chunk_size: int) -> Iterator[WordNode]:
    """One node per word of the selected media, with the pictures carrying it and its occurrences in them."""
    rows = (
        MediaWord.objects.filter(media__in=media.values("pk"))
        .values("word")
        .annotate(pictures=Count("media_id"), occurrences=Sum("count"))
        .order_by("word")
        .values_list("word", "pictures", "occurrences")
        .iterator(chunk_size=chunk_size)
    )
    for word, pictures, occurrences in rows:
        yield WordNode(word_node_id(word), word, pictures, occurrences)


def word_edges(media: QuerySet[Media], chunk_size: int, *, merge_clusters: bool) -> Iterator[tuple[str, str, int]]:
    """(picture node, word node, weight): how often the picture's text (a cluster's texts, summed) holds the word."""
    words = MediaWord.objects.filter(media__in=media.values("pk"))
    if not merge_clusters:
        rows = words.order_by("media_id", "word").values_list("media_id", "word", "count").iterator(chunk_size)
        for media_id, word, count in rows:
            yield media_node_id(media_id), word_node_id(word), count
        return
    grouped = (
        words.annotate(node_key=_picture_key("media__"))
        .values("node_key", "word")
        .annotate(weight=Sum("count"))
        .order_by("node_key", "word")
        .values_list("node_key", "word", "weight")
        .iterator(chunk_size=chunk_size)
    )
    for key, word, weight in grouped:
        yield key, word_node_id(word), weight
