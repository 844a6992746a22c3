"""Real photos, edited copies, and land builders for the cluster tests.

Pictures are quadrants of scikit-learn's two sample photos; each is published as
JPEG with edited copies, and every file goes through the real image analysis so
the media rows carry the hashes the pipeline would store.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from lands.models import AnalysisStatus, Domain, Expression, Land, Media
from media_analysis.engine.image import ImageAnalysis, analyse_image
from tests.factories import make_domain, make_expression, make_land, make_media, stored_key
from tests.support.photo_edits import EDITS


def encode_jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


@dataclass(frozen=True)
class Photos:
    """``files[(picture, edit)]`` and their analyses; edit ``"original"`` is the picture itself."""

    files: dict[tuple[int, str], bytes]
    analyses: dict[tuple[int, str], ImageAnalysis]

    def analysis(self, picture: int, edit: str = "original") -> ImageAnalysis:
        return self.analyses[(picture, edit)]


@pytest.fixture(scope="session")
def photos() -> Photos:
    """Eight pictures (quadrants of the two photos), each with its six edited copies, analysed."""
    files: dict[tuple[int, str], bytes] = {}
    for photo_index, name in enumerate(("china.jpg", "flower.jpg")):
        photo = Image.fromarray(load_sample_image(name))
        w, h = photo.size
        boxes = ((0, 0, w // 2, h // 2), (w // 2, 0, w, h // 2), (0, h // 2, w // 2, h), (w // 2, h // 2, w, h))
        for box_index, box in enumerate(boxes):
            picture = 4 * photo_index + box_index
            original = photo.crop(box)
            files[(picture, "original")] = encode_jpeg(original)
            for edit, apply in EDITS.items():
                edited, quality = apply(original)
                files[(picture, edit)] = encode_jpeg(edited, quality)
    return Photos(files, {key: analyse_image(data) for key, data in files.items()})


HASH_FIELDS = (
    "image_hash",
    "phash",
    "dhash",
    "ahash",
    "colorhash",
    "region_hashes",
    "color_mode",
    "width",
    "height",
    "file_size",
    "format",
)


def analysed_media(expression: Expression, analysis: ImageAnalysis | None = None, **fields) -> Media:
    """A media row as the pipeline leaves it after a successful analysis."""
    values = {name: getattr(analysis, name) for name in HASH_FIELDS} if analysis is not None else {}
    if analysis is not None:
        values["thumbnail_key"] = stored_key(analysis.image_hash)
    values.update(fields)
    return make_media(
        expression,
        analysis_status=AnalysisStatus.DONE,
        is_processed=True,
        analyzed_at=datetime(2026, 1, 1, tzinfo=UTC),
        **values,
    )


def mark_analysed(media: Media, analysis: ImageAnalysis, when: datetime | None = None) -> None:
    """What a chunk writes when it analyses a pending media."""
    for name in HASH_FIELDS:
        setattr(media, name, getattr(analysis, name))
    media.set_status(AnalysisStatus.DONE)
    media.analyzed_at = when or datetime.now(UTC)
    media.save()


def synthetic(expression: Expression, phash: int, dhash: int, sha: str | None = None, **fields) -> Media:
    """A media with hand-made hashes, for rules the photos cannot stage (chains, exact distances)."""
    return analysed_media(
        expression,
        phash=f"{phash:016x}",
        dhash=f"{dhash:016x}",
        image_hash=sha or f"{phash:016x}{dhash:016x}".ljust(64, "0"),
        width=100,
        height=100,
        **fields,
    )


@dataclass
class PhotoLand:
    """A land where each picture is shown, with its copies, on pages of several domains.

    ``media[(picture, edit)]`` is the media row; ``truth`` maps a media id to its picture.
    """

    land: Land
    domains: list[Domain]
    media: dict[tuple[int, str], Media] = field(default_factory=dict)
    truth: dict[int, int] = field(default_factory=dict)

    def ids(self, picture: int) -> set[int]:
        return {mid for mid, p in self.truth.items() if p == picture}


def build_photo_land(
    photos: Photos, pictures: range | list[int], edits: list[str], *, name: str | None = None
) -> PhotoLand:
    """Picture p's original on domain 0; its i-th copy on domain (i % 3) + 1, one page each.

    Page dates: publication known for originals (older first), only fetch dates for copies.
    """
    land = make_land(name)
    domains = [make_domain() for _ in range(4)]
    built = PhotoLand(land, domains)
    for p in pictures:
        for i, edit in enumerate(["original", *edits]):
            domain = domains[0] if edit == "original" else domains[(i % 3) + 1]
            dates: dict[str, Any] = (
                {"published_at": datetime(2020, 1, 1 + p, tzinfo=UTC)}
                if edit == "original"
                else {"fetched_at": datetime(2024, 3, 1 + i, tzinfo=UTC)}
            )
            page = make_expression(land, domain, relevance=i, depth=min(i, 3), **dates)
            media = analysed_media(page, photos.analysis(p, edit), url=f"https://{domain.name}/p{p}-{edit}.jpg")
            built.media[(p, edit)] = media
            built.truth[media.pk] = p
    return built


def partition(land_id: int) -> set[frozenset[int]]:
    """The land's clusters as sets of media ids (clusters of two or more only)."""
    groups: dict[int, set[int]] = {}
    for mid, cid in Media.objects.filter(expression__land_id=land_id, cluster__isnull=False).values_list(
        "id", "cluster_id"
    ):
        groups.setdefault(cid, set()).add(mid)
    return {frozenset(members) for members in groups.values()}
