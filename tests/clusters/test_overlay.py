"""Copies under a watermark band, clustered through the database, from scratch and incrementally."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from lands.models import AnalysisStatus, Media
from media_analysis.clusters import compute
from media_analysis.engine.image import analyse_image
from tests.clusters.conftest import analysed_media, encode_jpeg, partition
from tests.factories import make_expression, make_land
from tests.support.photo_edits import watermark

pytestmark = pytest.mark.django_db

# Picture 3 of the photos (a quarter of china.jpg) is one the band pushes past the whole-image pHash threshold.
MARKED_PICTURE = 3


def _marked(photos, picture: int):
    original = Image.open(io.BytesIO(photos.files[(picture, "original")]))
    return analyse_image(encode_jpeg(watermark(original)))


def test_a_watermarked_copy_joins_its_original_and_others_under_the_band_do_not(photos):
    land = make_land()
    original = analysed_media(make_expression(land), photos.analysis(MARKED_PICTURE))
    copy = analysed_media(make_expression(land), _marked(photos, MARKED_PICTURE))
    # Hard negatives: other pictures under the same band.
    for picture in (0, 5, 7):
        analysed_media(make_expression(land), _marked(photos, picture))

    compute.recluster_land(land.pk)

    assert partition(land.pk) == {frozenset({original.pk, copy.pk})}


def test_a_watermarked_copy_analysed_later_joins_incrementally(photos):
    land = make_land()
    original = analysed_media(make_expression(land), photos.analysis(MARKED_PICTURE))
    half = analysed_media(make_expression(land), photos.analysis(MARKED_PICTURE, "half"))
    other = analysed_media(make_expression(land), _marked(photos, 5))
    copy = analysed_media(make_expression(land), _marked(photos, MARKED_PICTURE))
    Media.objects.filter(pk=copy.pk).update(analysis_status=AnalysisStatus.PENDING)
    compute.recluster_land(land.pk)
    assert partition(land.pk) == {frozenset({original.pk, half.pk})}

    Media.objects.filter(pk=copy.pk).update(analysis_status=AnalysisStatus.DONE)
    report = compute.update_clusters_for_media(land.pk, [copy.pk])

    assert report.mode == "incremental"
    assert partition(land.pk) == {frozenset({original.pk, half.pk, copy.pk})}
    assert other.pk not in {mid for group in partition(land.pk) for mid in group}
    full = compute.recluster_land(land.pk)
    assert (full.created, full.updated, full.deleted, full.media_changed) == (0, 0, 0, 0)
