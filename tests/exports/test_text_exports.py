"""The text exports: mediacsv's text columns, textcsv, and textgexf read back with networkx."""

from __future__ import annotations

import io
from dataclasses import dataclass

import networkx as nx
import pytest
from django.core.management import call_command

from exports import services
from lands.models import Land, Media
from media_analysis.errors import InvalidParameters
from media_analysis.models import ImageCluster
from tests.exports.helpers import read_csv, run_export
from tests.factories import make_expression, make_land, make_media, make_text, stored_key

pytestmark = pytest.mark.django_db


@dataclass
class Scene:
    land: Land
    media: dict[str, Media]
    cluster: ImageCluster


@pytest.fixture
def scene(db) -> Scene:
    land = make_land("Captions")
    page = make_expression(land, relevance=2)
    low = make_expression(land, relevance=0)
    cluster = ImageCluster.objects.create(land=land, key=0, size=2, distinct_domains=1)
    media = {
        "first": make_media(page, url="https://cdn.example/first.jpg", cluster=cluster, thumbnail_key=stored_key(1)),
        "second": make_media(page, url="https://cdn.example/second.jpg", cluster=cluster),
        "lone": make_media(page, url="https://cdn.example/lone.png"),
        "photo": make_media(page, url="https://cdn.example/photo.jpg"),
        "unscored": make_media(low, url="https://cdn.example/unscored.jpg"),
    }
    make_text(media["first"], "Keep calm and carry on, calm", language="eng", confidence=88.5, text_area=0.25)
    make_text(media["second"], "Keep calm and panic")
    make_text(media["lone"], "=SUM(A1) calm")
    make_text(media["photo"], "", status="skipped", language="", confidence=None, text_area=None)
    make_text(media["unscored"], "hidden words")
    make_text(make_media(make_expression(make_land())), "calm elsewhere")
    return Scene(land, media, cluster)


def parse(data: bytes) -> nx.Graph:
    return nx.read_gexf(io.BytesIO(data), version="1.3")


def test_mediacsv_carries_the_text_columns(scene):
    header, rows = read_csv(run_export(scene.land, "mediacsv", minrel=1)[0])
    by_id = {int(row[0]): dict(zip(header, row, strict=True)) for row in rows}
    first = by_id[scene.media["first"].pk]
    assert (first["ocr_status"], first["ocr_language"], first["ocr_confidence"], first["ocr_text_area"]) == (
        "text",
        "eng",
        "88.5",
        "0.25",
    )
    assert first["ocr_text"] == "Keep calm and carry on, calm"
    assert by_id[scene.media["photo"].pk]["ocr_status"] == "skipped"
    # A crawled text is never left for a spreadsheet to run.
    assert by_id[scene.media["lone"].pk]["ocr_text"] == "'=SUM(A1) calm"


def test_textcsv_lists_each_picture_word_and_count(scene):
    data, export = run_export(scene.land, "textcsv", minrel=1)
    header, rows = read_csv(data)
    assert header == ["media_id", "url", "word", "count"]
    first = scene.media["first"]
    assert [row for row in rows if row[0] == str(first.pk)] == [
        [str(first.pk), first.url, word, count]
        for word, count in [("and", "1"), ("calm", "2"), ("carry", "1"), ("keep", "1"), ("on", "1")]
    ]
    assert {int(row[0]) for row in rows} == {first.pk, scene.media["second"].pk, scene.media["lone"].pk}
    assert export.counts.records == len(rows)
    every_page = read_csv(run_export(scene.land, "textcsv", minrel="all")[0])[1]
    assert [row[2] for row in every_page if row[0] == str(scene.media["unscored"].pk)] == ["hidden", "words"]


def test_textgexf_is_a_bipartite_graph_of_pictures_and_words(scene):
    data, export = run_export(scene.land, "textgexf", minrel=1)
    graph = parse(data)
    first, second, lone = (scene.media[name] for name in ("first", "second", "lone"))
    pictures = {node for node, kind in graph.nodes(data="type") if kind == "picture"}
    words = {node for node, kind in graph.nodes(data="type") if kind == "word"}
    assert pictures == {f"media-{first.pk}", f"media-{second.pk}", f"media-{lone.pk}"}
    assert words == {f"word-{w}" for w in ("keep", "calm", "and", "carry", "on", "panic", "sum", "a1")}
    assert graph.number_of_nodes() == export.counts.records == len(pictures) + len(words)
    # Every edge joins a picture to a word, weighted by the word's occurrences in the picture.
    assert all((u in pictures) != (v in pictures) for u, v in graph.edges())
    assert graph.number_of_edges() == export.counts.edges == 5 + 4 + 3
    assert graph[f"media-{first.pk}"]["word-calm"]["weight"] == 2
    assert graph[f"media-{second.pk}"]["word-panic"]["weight"] == 1
    calm = graph.nodes["word-calm"]
    assert (calm["label"], calm["pictures"], calm["occurrences"]) == ("calm", 3, 4)
    node = graph.nodes[f"media-{first.pk}"]
    assert (node["url"], node["thumbnail"], node["language"]) == (first.url, stored_key(1), "eng")
    assert node["text"] == "Keep calm and carry on, calm"
    assert node["cluster_id"] == scene.cluster.pk


def test_textgexf_merges_a_cluster_into_one_node(scene):
    graph = parse(run_export(scene.land, "textgexf", minrel=1, merge_clusters=True)[0])
    cluster = f"cluster-{scene.cluster.pk}"
    assert graph.nodes[cluster]["type"] == "cluster"
    assert graph.nodes[cluster]["pictures"] == 2
    assert graph.nodes[cluster]["url"] == scene.media["first"].url
    assert f"media-{scene.media['first'].pk}" not in graph
    assert graph[cluster]["word-calm"]["weight"] == 3  # twice in one member, once in the other
    assert graph[cluster]["word-panic"]["weight"] == 1
    assert graph.nodes[f"media-{scene.media['lone'].pk}"]["type"] == "picture"


def test_text_exports_cost_a_fixed_number_of_queries(scene, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(services, "CHUNK_SIZE", 2)
    with django_assert_num_queries(1):
        run_export(scene.land, "textcsv", minrel=0)
    with django_assert_num_queries(3):
        run_export(scene.land, "textgexf", minrel=0)
    with django_assert_num_queries(3):
        run_export(scene.land, "textgexf", minrel=0, merge_clusters=True)


def test_text_options_are_checked(scene):
    with pytest.raises(InvalidParameters) as caught:
        services.prepare_export(scene.land, "textcsv", merge_clusters=True)
    assert set(caught.value.errors) == {"merge_clusters"}
    with pytest.raises(InvalidParameters) as caught:
        services.prepare_export(scene.land, "textgexf", raw=True)
    assert set(caught.value.errors) == {"raw"}


def test_text_exports_from_the_api_and_the_command(scene, admin_client, tmp_path):
    response = admin_client.get(f"/api/lands/{scene.land.pk}/export/?type=textgexf&minrel=1&merge_clusters=true")
    assert response.status_code == 200
    graph = parse(b"".join(response.streaming_content))
    assert f"cluster-{scene.cluster.pk}" in graph
    bad = admin_client.get(f"/api/lands/{scene.land.pk}/export/?type=textcsv&merge_clusters=true")
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"merge_clusters"}
    target = tmp_path / "words.csv"
    call_command("export_land", "--land-id", str(scene.land.pk), "--type", "textcsv", "--output", str(target))
    header, rows = read_csv(target.read_bytes())
    assert header == ["media_id", "url", "word", "count"]
    assert len(rows) == 5 + 4 + 3


def test_admin_export_form_passes_merge_clusters_to_the_text_graph_only():
    from exports.admin_actions import ExportLandForm

    for name, expected in (("textgexf", "true"), ("textcsv", None)):
        form = ExportLandForm({"type": name, "minrel": "1", "nodes": "page", "merge_clusters": "on"})
        assert form.is_valid(), form.errors
        assert form.export_query().get("merge_clusters") == expected
