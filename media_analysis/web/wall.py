"""The image wall: a dense grid of stored thumbnails of a land, a cluster or a filtered selection.

What it shows: image media whose latest analysis kept a thumbnail (``media_analysis.stored``).
Media without one (not analysed yet, failed, refused, video and audio, analysed before
thumbnails were kept) are left out, not shown as placeholders; a media whose latest attempt
was refused (too large, too many pixels, a private address...) is left out even when a
thumbnail of an earlier success is kept, so nothing of a refused file reaches the browser.

Four orders: the hue of the first dominant colour (colourful images by hue, then greys from dark
to light, then images with no colour recorded), near-duplicate cluster, date of first appearance
(the page's published_at, else fetched_at, else created_at, as clusters count it) and size in
pixels, largest first; the media id breaks ties, so an order is the same on every request.
Cluster, date and size are ordered by the database; hue is read from JSON, so the selection's
first colours are streamed and sorted here. Either way a whole selection is sorted, so its order
of ids is made once and kept in Django's cache under a key that changes with the selection and
its figures; a page reads its slice of ids and their rows (docs/benchmarks/wall.md).

The PNG download composes the first ``max_media`` media of the order, one ``tile`` px cell each,
``columns`` cells a row, and streams it one row of cells at a time: memory holds one row, whatever
the wall's size, and the form caps the total pixels.
"""

from __future__ import annotations

import colorsys
import hashlib
import struct
import zlib
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Max, QuerySet, Sum
from django.db.models.functions import Coalesce
from PIL import Image

from lands.models import ID_MAX, PAGE_NUMBER_MAX, Media, MediaType
from media_analysis import stored
from media_analysis.web import gallery

SORTS = {
    "hue": "dominant colour (hue)",
    "cluster": "near-duplicate cluster",
    "date": "date of first appearance",
    "size": "size in pixels, largest first",
}
DEFAULT_SORT = "hue"
PAGE_SIZE = 400
MIN_TILE, DEFAULT_TILE, MAX_TILE = 16, 64, 256
DEFAULT_MAX_MEDIA = 1_000
MAX_COLUMNS, DEFAULT_COLUMNS = 200, 40
# The PNG's pixel budget: about 150 MB of RGB rows for whoever opens it, whatever tile and count.
MAX_PNG_PIXELS = 50_000_000
ORDER_CHUNK = 2_000
# A selection's order, as packed ids (8 bytes a media), is kept this long in Django's cache.
ORDER_CACHE_SECONDS = 600
BACKGROUND = (255, 255, 255)
# A first colour this unsaturated or this dark has no hue worth ordering by: it goes with the greys.
GREY_SATURATION = 0.12
DARK_VALUE = 0.12
# The latest attempt refused the file: no picture of it is shown, even one kept from an earlier success.
REFUSED_CLASSES = (
    "too_large",
    "decompression_bomb",
    "too_complex",
    "unsupported_format",
    "refused_address",
    "unsupported_scheme",
    "invalid_url",
)


def max_media_limit() -> int:
    return max(1, int(settings.MEDIA_ANALYSIS_WALL_MAX_MEDIA))


class _StrippedChoiceField(forms.ChoiceField):
    # As the gallery's: a value typed into an address may carry spaces.
    def to_python(self, value: Any) -> str:
        return super().to_python(value).strip()


def most_media(tile: int) -> int:
    """The most media a PNG of ``tile`` px cells may hold: the setting's cap and the pixel budget."""
    return max(1, min(max_media_limit(), MAX_PNG_PIXELS // (tile * tile)))


def _int_field(name: str, low: int, high: int, what: str) -> forms.IntegerField:
    message = f"{name} must be {what} from {low:,} to {high:,}"
    return forms.IntegerField(
        required=False,
        min_value=low,
        max_value=high,
        error_messages={"invalid": message, "min_value": message, "max_value": message},
    )


class WallQueryForm(gallery.GalleryQueryForm):
    """The wall's GET parameters, for the page and the PNG alike: the one validator of both.

    A land or a cluster (exactly one), the gallery's filters, the order, the tile size, the
    page and, for the PNG, how many media and how many a row. A bad value is an error naming
    its parameter (the views answer 400), never silently dropped.
    """

    # The gallery's keyset cursor is not the wall's: it pages by number.
    after = None  # type: ignore[assignment]
    before = None  # type: ignore[assignment]
    land = _int_field("land", 1, ID_MAX, "a land id")
    cluster = _int_field("cluster", 1, ID_MAX, "a cluster id")
    sort = _StrippedChoiceField(
        required=False,
        choices=list(SORTS.items()),
        error_messages={"invalid_choice": f"sort must be one of {', '.join(SORTS)}"},
    )
    tile = _int_field("tile", MIN_TILE, MAX_TILE, "a size in pixels")
    page = _int_field("page", 1, PAGE_NUMBER_MAX, "a page number")
    max_media = _int_field("max_media", 1, 10**9, "a number of media")
    columns = _int_field("columns", 1, MAX_COLUMNS, "a number of columns")

    def clean_max_media(self) -> int | None:
        value = self.cleaned_data.get("max_media")
        limit = max_media_limit()
        if value is not None and value > limit:
            raise forms.ValidationError(f"max_media must be a number of media from 1 to {limit:,}")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        land, cluster = cleaned.get("land"), cleaned.get("cluster")
        # Both is a cluster of that land (the gallery's link carries its cluster filter beside the land).
        if "land" not in self.errors and "cluster" not in self.errors and land is None and cluster is None:
            self.add_error("land", "give either land or cluster")
        tile, max_media = cleaned.get("tile") or DEFAULT_TILE, cleaned.get("max_media")
        if max_media is not None and "tile" not in self.errors and max_media > most_media(tile):
            self.add_error("max_media", f"max_media of {tile} px tiles must be at most {most_media(tile):,}")
        return cleaned

    def problems(self) -> dict[str, list[str]]:
        return {name: [str(message) for message in messages] for name, messages in self.errors.items()}

    def filters(self) -> gallery.GalleryFilters:
        # ``sort`` and ``cluster`` are the wall's own order and scope here, not gallery filters.
        return replace(super().filters(), sort="id", cluster=None)

    def wall_query(self) -> WallQuery:
        """The accepted parameters with their defaults; call after ``is_valid()`` said yes."""
        data = self.cleaned_data
        tile = data.get("tile") or DEFAULT_TILE
        return WallQuery(
            land_id=data.get("land"),
            cluster_id=data.get("cluster"),
            filters=self.filters(),
            sort=data.get("sort") or DEFAULT_SORT,
            tile=tile,
            page=data.get("page") or 1,
            max_media=data.get("max_media") or min(DEFAULT_MAX_MEDIA, most_media(tile)),
            columns=data.get("columns") or DEFAULT_COLUMNS,
        )


@dataclass(frozen=True)
class WallQuery:
    land_id: int | None
    cluster_id: int | None
    filters: gallery.GalleryFilters
    sort: str = DEFAULT_SORT
    tile: int = DEFAULT_TILE
    page: int = 1
    max_media: int = DEFAULT_MAX_MEDIA
    columns: int = DEFAULT_COLUMNS

    def as_query(self, **changes: Any) -> str:
        """The GET parameters of this wall, with ``changes``, for links (page numbers, the PNG)."""
        values: dict[str, Any] = {"land": self.land_id, "cluster": self.cluster_id}
        values.update(self.filters.as_query())
        values.update(sort=self.sort, tile=self.tile)
        values.update(changes)
        return urlencode({name: value for name, value in values.items() if value not in (None, "")})

    @property
    def png_pixels(self) -> tuple[int, int]:
        """The largest PNG these parameters may make: width and height in pixels."""
        columns = min(self.columns, self.max_media)
        rows = -(-self.max_media // columns)
        return columns * self.tile, rows * self.tile


@dataclass(frozen=True)
class WallItem:
    media_id: int
    thumbnail_key: str

    @property
    def src(self) -> str | None:
        return stored.thumbnail_url(self.thumbnail_key)


def wall_queryset(query: WallQuery) -> QuerySet[Media]:
    """The media the wall shows: of the land or the cluster, filtered, with a stored thumbnail, not refused."""
    if query.cluster_id is not None:
        base = Media.objects.filter(cluster_id=query.cluster_id)
    else:
        assert query.land_id is not None
        base = Media.objects.of_land(query.land_id)
    return (
        gallery.filter_media(base, query.filters)
        .filter(type=MediaType.IMAGE, thumbnail_key__isnull=False)
        .exclude(thumbnail_key="")
        .exclude(error_class__in=REFUSED_CLASSES)
    )


def hue_key(dominant_colors: Any) -> tuple[int, float, float]:
    """Where the first dominant colour sorts: colourful by hue, then greys dark to light, then none."""
    first = gallery.swatches(dominant_colors, limit=1)
    if not first:
        return (2, 0.0, 0.0)
    hex_value = first[0][0]
    red, green, blue = (int(hex_value[i : i + 2], 16) / 255 for i in (1, 3, 5))
    hue, saturation, value = colorsys.rgb_to_hsv(red, green, blue)
    if saturation < GREY_SATURATION or value < DARK_VALUE:
        return (1, value, 0.0)
    return (0, hue, value)


def _ordered(queryset: QuerySet[Media], sort: str) -> QuerySet[Media]:
    if sort == "cluster":
        return queryset.order_by(F("cluster_id").asc(nulls_last=True), "id")
    if sort == "date":
        first_seen = Coalesce("expression__published_at", "expression__fetched_at", "expression__created_at")
        return queryset.annotate(first_seen=first_seen).order_by(F("first_seen").asc(nulls_last=True), "id")
    if sort == "size":
        return queryset.annotate(pixels=F("width") * F("height")).order_by(F("pixels").desc(nulls_last=True), "id")
    raise ValueError(f"not an order the database makes: {sort!r}")


def selection_figures(queryset: QuerySet[Media]) -> dict[str, Any]:
    """How many media the wall shows, and what moves when the selection or its order may have changed: one query.

    A new analysis moves ``values_at`` or ``analyzed_at``, an import ``last_id``, a removal ``total``,
    a reclustering the count and the sum of the cluster ids.
    """
    return queryset.aggregate(
        total=Count("id"),
        last_id=Max("id"),
        values_at=Max("values_at"),
        analysed_at=Max("analyzed_at"),
        clustered=Count("cluster_id"),
        clusters=Sum("cluster_id"),
    )


def _order_cache_key(query: WallQuery, figures: dict[str, Any]) -> str:
    scope = (query.land_id, query.cluster_id, query.sort, sorted(query.filters.as_query().items()))
    state = sorted((name, str(value)) for name, value in figures.items())
    return "medianalyse:wall:order:" + hashlib.sha256(repr((scope, state)).encode()).hexdigest()


def wall_order(query: WallQuery, queryset: QuerySet[Media], figures: dict[str, Any]) -> array[int]:
    """The selection's media ids in the wall's order, from the cache while the figures stay the same.

    Ordering a whole selection costs a sort of every row (and, for hue, reading every first colour):
    done once, the order is kept as packed ids, 8 bytes a media, for ORDER_CACHE_SECONDS.
    """
    key = _order_cache_key(query, figures)
    packed = cache.get(key)
    if isinstance(packed, bytes):
        return array("q", packed)
    if query.sort == "hue":
        # Only the first colour of each media is read, as the database extracts it.
        rows = queryset.order_by().values_list("id", "dominant_colors__0")
        keyed = sorted((hue_key([first]), pk) for pk, first in rows.iterator(chunk_size=ORDER_CHUNK))
        ids = array("q", (pk for _, pk in keyed))
    else:
        ids = array("q", _ordered(queryset, query.sort).values_list("id", flat=True).iterator(chunk_size=ORDER_CHUNK))
    cache.set(key, ids.tobytes(), ORDER_CACHE_SECONDS)
    return ids


def wall_slice(query: WallQuery, start: int, stop: int, figures: dict[str, Any] | None = None) -> list[WallItem]:
    """The media from ``start`` to ``stop`` (exclusive) in the wall's order.

    The figures (unless given), the order (unless cached), then the slice's rows, read again
    through the wall's filters so that a media no longer shown since the order was cached is
    left out: two queries, three when the order is made.
    """
    queryset = wall_queryset(query)
    ids = list(wall_order(query, queryset, figures or selection_figures(queryset))[start:stop])
    found = dict(queryset.filter(pk__in=ids).values_list("id", "thumbnail_key")) if ids else {}
    return [WallItem(pk, key) for pk in ids if (key := found.get(pk)) is not None and stored.is_thumbnail_key(key)]


@dataclass
class WallPage:
    query: WallQuery
    items: list[WallItem]
    total: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def number(self) -> int:
        return self.query.page

    @property
    def first_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.items else 0

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.items) - 1 if self.items else 0

    def _link(self, number: int) -> str:
        return "?" + self.query.as_query(page=number if number > 1 else None)

    @property
    def previous_link(self) -> str | None:
        return self._link(self.number - 1) if self.number > 1 else None

    @property
    def next_link(self) -> str | None:
        return self._link(self.number + 1) if self.number < self.pages else None

    @property
    def first_link(self) -> str:
        return self._link(1)

    @property
    def last_link(self) -> str:
        return self._link(self.pages)


def wall_page(query: WallQuery, per_page: int = PAGE_SIZE) -> WallPage:
    """One page of the wall: the selection's figures and a slice (and, for hue, the order when not cached)."""
    figures = selection_figures(wall_queryset(query))
    total = figures["total"]
    start = (query.page - 1) * per_page
    items = wall_slice(query, start, start + per_page, figures) if start < total else []
    return WallPage(query, items, total, per_page)


# --- The composed PNG ------------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def load_tile(key: str, tile: int) -> Image.Image | None:
    """A stored thumbnail fitted into ``tile`` px, in RGB or RGBA; None when the storage has none."""
    try:
        with stored.media_storage().open(key, "rb") as handle, Image.open(handle, formats=("JPEG", "WEBP")) as img:
            # A JPEG decodes straight to the nearest scale at or above the tile: less to decode and reduce.
            img.draft("RGB", (tile, tile))
            img.load()
            picture = img.convert("RGBA" if img.mode in ("RGBA", "LA", "P") else "RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    picture.thumbnail((tile, tile), Image.Resampling.BILINEAR)
    return picture


def compose_png(keys: Sequence[str], *, tile: int, columns: int) -> Iterator[bytes]:
    """The PNG of ``keys``' thumbnails in rows of ``columns`` cells of ``tile`` px, streamed row by row.

    Each thumbnail is centred in its cell on a white background (transparent parts show it);
    a thumbnail missing from the storage leaves its cell white. An empty wall is one white cell.
    """
    columns = max(1, min(columns, len(keys)))
    rows = max(1, -(-len(keys) // columns))
    width, height = columns * tile, rows * tile
    yield b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    compressor = zlib.compressobj(6)
    stride = width * 3
    for row in range(rows):
        band = Image.new("RGB", (width, tile), BACKGROUND)
        for column, key in enumerate(keys[row * columns : (row + 1) * columns]):
            picture = load_tile(key, tile)
            if picture is None:
                continue
            at = (column * tile + (tile - picture.width) // 2, (tile - picture.height) // 2)
            band.paste(picture, at, picture if picture.mode == "RGBA" else None)
        raw = band.tobytes()
        # Each scanline starts with its filter type: 0, none.
        lines = b"".join(b"\x00" + raw[offset : offset + stride] for offset in range(0, len(raw), stride))
        data = compressor.compress(lines)
        if data:
            yield _chunk(b"IDAT", data)
    yield _chunk(b"IDAT", compressor.flush())
    yield _chunk(b"IEND", b"")


def wall_png(query: WallQuery) -> Iterator[bytes]:
    """The PNG of the first ``max_media`` media of the wall's order (one query, then the storage)."""
    items = wall_slice(query, 0, query.max_media)
    return compose_png([item.thumbnail_key for item in items], tile=query.tile, columns=query.columns)
