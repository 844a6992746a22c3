"""The clustering task (run inline, as the test settings ask) and the cluster_media command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from lands.models import Media
from media_analysis import tasks
from media_analysis.models import ImageCluster, LandClustering
from media_analysis.tasks import cluster_land_task
from tests.clusters.conftest import analysed_media, build_photo_land, partition
from tests.factories import make_expression

pytestmark = pytest.mark.django_db


def test_the_task_is_registered_with_the_consumers():
    assert any(name.endswith("cluster_land_task") for name in tasks.HUEY._registry._registry)


def test_the_task_clusters_a_land_then_its_new_media(photos):
    built = build_photo_land(photos, [0, 1], ["half", "grey"])

    cluster_land_task(built.land.pk)
    assert partition(built.land.pk) == {frozenset(built.ids(0)), frozenset(built.ids(1))}
    assert LandClustering.objects.get(land=built.land).mode == "full"

    copy = analysed_media(make_expression(built.land), photos.analysis(0, "caption"))
    cluster_land_task(built.land.pk, [copy.pk])
    assert Media.objects.get(pk=copy.pk).cluster_id == Media.objects.get(pk=built.media[(0, "half")].pk).cluster_id
    assert LandClustering.objects.get(land=built.land).mode == "incremental"


def test_the_task_tolerates_a_deleted_land():
    cluster_land_task(10**9)  # no exception: the land is gone, there is nothing to do


def test_command_prints_a_summary_and_recomputes_with_full(photos):
    built = build_photo_land(photos, range(3), ["half", "mirror"])
    out = StringIO()

    call_command("cluster_media", "--land-id", str(built.land.pk), stdout=out)

    text = out.getvalue()
    assert f"Land {built.land.pk}: full clustering (first run) in " in text
    assert "images with hashes: 9; clustered again: 9" in text
    assert "clusters: 3 holding 9 images" in text
    assert "rows: 3 created, 0 updated, 0 deleted; 9 media changed cluster" in text

    out = StringIO()
    call_command("cluster_media", "--land-id", str(built.land.pk), stdout=out)
    assert "incremental clustering in" in out.getvalue()
    assert "new or re-analysed: 0" in out.getvalue()

    ids = set(ImageCluster.objects.values_list("id", flat=True))
    out = StringIO()
    call_command("cluster_media", "--land-id", str(built.land.pk), "--full", stdout=out)
    assert "full clustering in" in out.getvalue()
    assert "rows: 0 created, 0 updated, 0 deleted; 0 media changed cluster" in out.getvalue()
    assert set(ImageCluster.objects.values_list("id", flat=True)) == ids


def test_command_refuses_an_unknown_land():
    with pytest.raises(CommandError, match="No land with id 999999"):
        call_command("cluster_media", "--land-id", "999999", stdout=StringIO())
