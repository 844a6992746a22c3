import csv
import io
import json

import networkx as nx
import pytest

from exports.services import prepare_export
from lands.models import AnalysisStatus, Media
from media_analysis.clusters.compute import recluster_land
from media_analysis.errors import InvalidParameters
from tests.factories import make_domain, make_expression, make_land, make_media


def _analysed(page, sha: str, phash: str, **extra) -> Media:
    return make_media(
        page,
        analysis_status=AnalysisStatus.DONE,
        is_processed=True,
        image_hash=sha * 64,
        phash=phash,
        dhash=phash,
        colorhash="07000000000",
        width=640,
        height=480,
        format="JPEG",
        **extra,
    )


@pytest.fixture
def clustered(db):
    land = make_land()
    pages = [make_expression(land, domain=make_domain(), relevance=2, depth=0) for _ in range(3)]
    near = "f0f0f0f0f0f0f0f0"
    members = [
        _analysed(pages[0], "a", near),
        _analysed(pages[1], "b", "f0f0f0f0f0f0f0f1"),  # one bit away: the same picture, re-encoded
        _analysed(pages[2], "c", "f0f0f0f0f0f0f0f3"),
    ]
    lone = _analysed(pages[0], "d", "0123456789abcdef")
    recluster_land(land.pk)
    for media in [*members, lone]:
        media.refresh_from_db()
    return land, members, lone


def _export(land, export_type, **params) -> bytes:
    buffer = io.BytesIO()
    prepare_export(land, export_type, **params).write_to(buffer)
    return buffer.getvalue()


def test_mediacsv_carries_the_cluster_of_each_media(clustered):
    land, members, lone = clustered
    rows = list(csv.DictReader(io.StringIO(_export(land, "mediacsv").decode())))
    by_id = {int(row["id"]): row["cluster_id"] for row in rows}
    cluster_id = members[0].cluster_id
    assert cluster_id is not None
    assert {by_id[m.pk] for m in members} == {str(cluster_id)}
    assert by_id[lone.pk] == ""


def test_clustercsv_has_one_row_per_cluster(clustered):
    land, members, _ = clustered
    rows = list(csv.DictReader(io.StringIO(_export(land, "clustercsv").decode())))
    assert len(rows) == 1
    row = rows[0]
    assert int(row["cluster_id"]) == members[0].cluster_id
    assert (row["size"], row["distinct_domains"], row["distinct_pages"]) == ("3", "3", "3")
    assert sorted(json.loads(row["media_ids"])) == sorted(m.pk for m in members)
    assert len(json.loads(row["domains"])) == 3
    # The crawler's page filter applies: a minimum relevance above every page leaves no cluster.
    assert list(csv.reader(io.StringIO(_export(land, "clustercsv", minrel=5).decode()))) == [
        list(csv.DictReader(io.StringIO(_export(land, "clustercsv").decode())).fieldnames)
    ]


def test_mediagexf_can_merge_a_cluster_into_one_node(clustered, tmp_path):
    land, members, lone = clustered
    plain = tmp_path / "plain.gexf"
    merged = tmp_path / "merged.gexf"
    plain.write_bytes(_export(land, "mediagexf"))
    merged.write_bytes(_export(land, "mediagexf", merge_clusters="true"))
    plain_graph, merged_graph = nx.read_gexf(plain), nx.read_gexf(merged)
    cluster_node = f"cluster-{members[0].cluster_id}"
    assert cluster_node not in plain_graph
    assert cluster_node in merged_graph
    assert merged_graph.in_degree(cluster_node) == 3  # shown by three pages
    assert merged_graph.nodes[cluster_node]["occurrences"] == 3
    assert f"sha256-{lone.image_hash}" in merged_graph  # a lone image keeps its own node
    assert plain_graph.number_of_nodes() - merged_graph.number_of_nodes() == 2


def test_merge_clusters_applies_to_mediagexf_only(clustered):
    land, _, _ = clustered
    with pytest.raises(InvalidParameters, match="merge_clusters"):
        prepare_export(land, "mediacsv", merge_clusters=True)
    with pytest.raises(InvalidParameters, match="true or false"):
        prepare_export(land, "mediagexf", merge_clusters="sometimes")


def test_cluster_exports_over_the_api(clustered, staff_api_client):
    land, _, _ = clustered
    response = staff_api_client.get(f"/api/lands/{land.pk}/export/?type=clustercsv")
    assert response.status_code == 200
    assert "clustercsv" in response["Content-Disposition"]
    graph = staff_api_client.get(f"/api/lands/{land.pk}/export/?type=mediagexf&merge_clusters=1")
    assert graph.status_code == 200
    assert b"cluster-" in b"".join(graph.streaming_content)
