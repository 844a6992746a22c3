"""The land gallery's queries: validated filters and keyset pages.

A land may hold 100,000 media, so nothing here reads a whole land into memory
or counts it exactly: pages are fetched by primary-key keyset (no OFFSET, no
COUNT) and the "how many match" figure is a count capped at COUNT_CAP. The
land's figures (chart data) live in lands.figures.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.db.models import QuerySet

from lands.aggregates import is_dense_land

# The land's figures moved to lands.figures; the pages and tests still read them here.
from lands.figures import (  # noqa: F401
    DIMENSION_EDGES,
    FILE_SIZE_EDGES,
    PALETTE_CHUNK,
    PALETTE_TOP,
    _palette_entries,
    accumulate_palette,
    dimension_bins,
    edge_labels,
    failure_counts,
    file_size_bins,
    format_counts,
    human_bytes,
    land_palette,
)
from lands.models import AnalysisStatus, Media, MediaType
from media_analysis.engine.errors import ERROR_CLASSES

PAGE_SIZE = 48
COUNT_CAP = 10_000
MAX_DIMENSION = 1_000_000
CONFORMITY_CHOICES = {"yes": True, "no": False, "unknown": None}
EARLIER_VALUES_CHOICES = (("yes", "Kept from an earlier attempt"), ("no", "None kept from an earlier attempt"))
# Pillow's format names are short upper-case words; anything else is a typo or an attack.
_FORMAT_RE = re.compile(r"^[A-Za-z0-9_+-]{1,20}$")
_HEX_RE = re.compile(r"#[0-9a-fA-F]{6}")
GALLERY_FIELDS = (
    "id",
    "url",
    "type",
    "width",
    "height",
    "format",
    "file_size",
    "analysis_status",
    "error_class",
    "thumbnail_key",
    "is_conforming",
    "dominant_colors",
    "analysis_version",
    "values_at",
)


@dataclass(frozen=True)
class GalleryFilters:
    format: str | None = None
    min_width: int | None = None
    max_width: int | None = None
    min_height: int | None = None
    max_height: int | None = None
    conforming: str | None = None  # "yes", "no" or "unknown"
    status: str | None = None
    error_class: str | None = None
    type: str | None = None
    earlier_values: str | None = None  # "yes" or "no"

    def as_query(self) -> dict[str, str]:
        """The filters as GET parameters (for pagination links)."""
        return {name: str(value) for name, value in asdict(self).items() if value not in (None, "")}

    @property
    def active(self) -> bool:
        return bool(self.as_query())


FILTER_NAMES = tuple(GalleryFilters.__dataclass_fields__)
DIMENSION_PAIRS = (("min_width", "max_width"), ("min_height", "max_height"))


def _spoken(name: str) -> str:
    return name.replace("_", " ")


def _dimension_field(name: str) -> forms.IntegerField:
    out_of_range = f"{_spoken(name)} must be between 0 and {MAX_DIMENSION:,}"
    return forms.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_DIMENSION,
        error_messages={
            "invalid": f"{_spoken(name)} must be a whole number of pixels",
            "min_value": out_of_range,
            "max_value": out_of_range,
        },
    )


def _cursor_field(name: str) -> forms.IntegerField:
    # Media ids are positive bigints: anything longer is not one.
    not_an_id = f"{name} must be a media id"
    return forms.IntegerField(
        required=False,
        min_value=0,
        max_value=10**18 - 1,
        error_messages={"invalid": not_an_id, "min_value": not_an_id, "max_value": not_an_id},
    )


class _StrippedChoiceField(forms.ChoiceField):
    # Like every other gallery parameter, a choice typed into a URL may carry spaces.
    def to_python(self, value: Any) -> str:
        return super().to_python(value).strip()


def _choice_field(choices: Iterable[tuple[str, str]], invalid: str) -> forms.ChoiceField:
    return _StrippedChoiceField(required=False, choices=list(choices), error_messages={"invalid_choice": invalid})


class GalleryQueryForm(forms.Form):
    """The gallery's GET parameters: its filters and its keyset position.

    A bad value never makes the page fail: it is dropped (the gallery shows
    everything it would have narrowed) and reported with ``problems()``, so a
    mistyped URL gets an explanation.
    """

    format = forms.RegexField(
        regex=_FORMAT_RE,
        required=False,
        strip=True,
        error_messages={"invalid": "unknown format %(value).32r: use a name such as JPEG, PNG, GIF or WEBP"},
    )
    min_width = _dimension_field("min_width")
    max_width = _dimension_field("max_width")
    min_height = _dimension_field("min_height")
    max_height = _dimension_field("max_height")
    conforming = _choice_field(
        ((value, value) for value in CONFORMITY_CHOICES), f"conformity must be one of {', '.join(CONFORMITY_CHOICES)}"
    )
    status = _choice_field(AnalysisStatus.choices, f"status must be one of {', '.join(AnalysisStatus.values)}")
    # The form metaclass moves declared fields into ``base_fields``, so this does not shadow
    # ``BaseForm.error_class`` at run time; the stubs cannot know that.
    error_class = _choice_field(  # type: ignore[assignment]
        ((code, code) for code in ERROR_CLASSES), "unknown error class %(value).42r"
    )
    type = _choice_field(MediaType.choices, f"type must be one of {', '.join(MediaType.values)}")
    earlier_values = _choice_field(EARLIER_VALUES_CHOICES, "earlier values must be yes or no")
    after = _cursor_field("after")
    before = _cursor_field("before")

    def clean_format(self) -> str:
        return self.cleaned_data["format"].upper()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for low, high in DIMENSION_PAIRS:
            if cleaned.get(low) is not None and cleaned.get(high) is not None and cleaned[low] > cleaned[high]:
                self.add_error(low, f"{_spoken(low)} is larger than {_spoken(high)}")
                cleaned.pop(high)
        if cleaned.get("after") is not None and cleaned.get("before") is not None:
            self.add_error("before", "give either after or before, not both")
        return cleaned

    def problems(self) -> dict[str, list[str]]:
        """A message per rejected parameter (validates the form on first use)."""
        return {name: [str(message) for message in messages] for name, messages in self.errors.items()}

    def filters(self) -> GalleryFilters:
        """The accepted filters; call after ``problems()`` or ``is_valid()``."""
        values = {name: self.cleaned_data.get(name) for name in FILTER_NAMES}
        # An empty field is no filter; 0 is a filter (width >= 0 leaves out unknown widths).
        return GalleryFilters(**{name: value for name, value in values.items() if value not in (None, "")})

    def cursor(self) -> tuple[int | None, int | None]:
        """``(after, before)``: the keyset position, ``after`` for next pages, ``before`` for previous ones."""
        return self.cleaned_data.get("after"), self.cleaned_data.get("before")


def filter_media(queryset: QuerySet[Media], filters: GalleryFilters) -> QuerySet[Media]:
    if filters.format:
        queryset = queryset.filter(format__iexact=filters.format)
    if filters.min_width is not None:
        queryset = queryset.filter(width__gte=filters.min_width)
    if filters.max_width is not None:
        queryset = queryset.filter(width__lte=filters.max_width)
    if filters.min_height is not None:
        queryset = queryset.filter(height__gte=filters.min_height)
    if filters.max_height is not None:
        queryset = queryset.filter(height__lte=filters.max_height)
    if filters.conforming is not None:
        wanted = CONFORMITY_CHOICES[filters.conforming]
        queryset = (
            queryset.filter(is_conforming__isnull=True) if wanted is None else queryset.filter(is_conforming=wanted)
        )
    if filters.status:
        queryset = queryset.filter(analysis_status=filters.status)
    if filters.error_class:
        queryset = queryset.filter(error_class=filters.error_class)
    if filters.type:
        queryset = queryset.filter(type=filters.type)
    if filters.earlier_values == "yes":
        queryset = queryset.filter(Media.holds_earlier_values())
    elif filters.earlier_values == "no":
        queryset = queryset.exclude(Media.holds_earlier_values())
    return queryset


def gallery_queryset(land_id: int, filters: GalleryFilters) -> QuerySet[Media]:
    return filter_media(Media.objects.of_land_by_id(land_id, is_dense_land(land_id)), filters).only(*GALLERY_FIELDS)


@dataclass
class GalleryPage:
    items: list[Media]
    has_next: bool
    has_previous: bool
    matched: int
    matched_capped: bool
    filters: GalleryFilters = field(default_factory=GalleryFilters)

    @property
    def next_after(self) -> int | None:
        return self.items[-1].pk if self.items and self.has_next else None

    @property
    def previous_before(self) -> int | None:
        return self.items[0].pk if self.items and self.has_previous else None

    def link(self, **cursor: int | None) -> str:
        query = self.filters.as_query()
        query.update({name: str(value) for name, value in cursor.items() if value is not None})
        return "?" + urlencode(query) if query else "?"

    @property
    def next_link(self) -> str | None:
        return self.link(after=self.next_after) if self.next_after is not None else None

    @property
    def previous_link(self) -> str | None:
        return self.link(before=self.previous_before) if self.previous_before is not None else None

    @property
    def first_link(self) -> str:
        return self.link()


def capped_count(queryset: QuerySet, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """``(n, capped)``: an exact count up to ``cap``, never reading more than cap + 1 rows."""
    n = queryset.order_by().values("pk")[: cap + 1].count()
    return (cap, True) if n > cap else (n, False)


def gallery_page(
    land_id: int,
    filters: GalleryFilters,
    *,
    after: int | None = None,
    before: int | None = None,
    per_page: int = PAGE_SIZE,
) -> GalleryPage:
    """One page of the gallery in id order: two queries whatever the land's size."""
    base = gallery_queryset(land_id, filters)
    if before is not None:
        rows = list(base.filter(pk__lt=before).order_by("-pk")[: per_page + 1])
        has_previous = len(rows) > per_page
        items = list(reversed(rows[:per_page]))
        has_next = True
    else:
        queryset = base.filter(pk__gt=after) if after is not None else base
        rows = list(queryset.order_by("pk")[: per_page + 1])
        has_next = len(rows) > per_page
        items = rows[:per_page]
        has_previous = after is not None
    matched, capped = capped_count(base, COUNT_CAP)
    return GalleryPage(items, has_next, has_previous, matched, capped, filters)


def swatches(value: Any, limit: int = 6) -> list[tuple[str, float | None]]:
    """(hex, percent) of a stored ``dominant_colors`` list, only well-formed colours.

    The hex ends up in a ``style`` attribute, where escaping alone would not
    stop CSS injection from a hostile imported value, hence the strict check.
    """
    if not isinstance(value, list):
        return []
    found: list[tuple[str, float | None]] = []
    for entry in value:
        if not isinstance(entry, dict):
            continue
        hex_value = entry.get("hex")
        rgb = entry.get("rgb")
        if not (isinstance(hex_value, str) and _HEX_RE.fullmatch(hex_value)):
            if isinstance(rgb, list) and len(rgb) >= 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in rgb[:3]):
                hex_value = "#{:02x}{:02x}{:02x}".format(*rgb[:3])
            else:
                continue
        percent = entry.get("percentage")
        if isinstance(percent, bool) or not isinstance(percent, int | float):
            percent = None
        found.append((hex_value.lower(), None if percent is None else float(percent)))
        if len(found) >= limit:
            break
    return found
