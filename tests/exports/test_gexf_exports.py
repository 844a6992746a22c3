"""GEXF exports parsed with networkx (as an analyst would) and checked against the database."""

from __future__ import annotations

import hashlib
import io
import xml.etree.ElementTree as ET
from collections import defaultdict

import networkx as nx
import pytest

from exports import services
from exports.writers import clean_xml_text
from lands.models import Domain, Expression, ExpressionLink, Media
from media_analysis.errors import InvalidParameters
from tests.exports.helpers import run_export

GEXF = "{http://gexf.net/1.3}"


def parse(data: bytes) -> nx.DiGraph:
    return nx.read_gexf(io.BytesIO(data), version="1.3")


def declared_types(data: bytes) -> dict[str, str]:
    root = ET.fromstring(data)
    return {a.attrib["title"]: a.attrib["type"] for a in root.iter(f"{GEXF}attribute")}


def selected_pages(land, minrel=1, depth=None) -> list[Expression]:
    pages = []
    for page in Expression.objects.filter(land=land).order_by("id"):
        if page.relevance is None or page.relevance < minrel:
            continue
        if depth is not None and (page.depth is None or page.depth > depth):
            continue
        pages.append(page)
    return pages


def test_gexf_document_is_1_3_with_meta(corpus):
    data, _ = run_export(corpus.land, "pagegexf")
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<gexf xmlns="http://gexf.net/1.3" ')
    assert b'xmlns:viz="http://gexf.net/1.3/viz"' in data
    root = ET.fromstring(data)
    assert root.tag == f"{GEXF}gexf"
    assert root.get("version") == "1.3"
    meta = root.find(f"{GEXF}meta")
    assert len(meta.get("lastmodifieddate")) == 10
    assert meta.find(f"{GEXF}creator").text == "medianalyse"
    description = meta.find(f"{GEXF}description").text
    assert corpus.land.name in description
    assert "relevance >= 1" in description
    graph = root.find(f"{GEXF}graph")
    assert graph.get("defaultedgetype") == "directed"
    assert graph.find(f"{GEXF}attributes").get("class") == "node"


@pytest.mark.parametrize(("minrel", "depth"), [(None, None), (0, 1), (2, None)])
def test_pagegexf_matches_the_database(corpus, minrel, depth):
    data, export = run_export(corpus.land, "pagegexf", minrel=minrel, depth=depth)
    graph = parse(data)
    pages = selected_pages(corpus.land, 1 if minrel is None else minrel, depth)
    ids = {page.pk for page in pages}

    assert set(graph.nodes) == {str(page.pk) for page in pages}
    for page in pages:
        node = graph.nodes[str(page.pk)]
        assert node["label"] == page.url
        assert node["relevance"] == page.relevance
        assert node["depth"] == page.depth
        assert node["domain_id"] == str(page.domain_id)
        assert node["title"] == clean_xml_text(page.title)
        assert node.get("description") == page.description
        assert node["viz"]["size"] == float(page.relevance)

    expected_edges = {
        (str(link.source_id), str(link.target_id))
        for link in ExpressionLink.objects.select_related("source", "target")
        if link.source_id in ids and link.target_id in ids and link.source.domain_id != link.target.domain_id
    }
    assert set(graph.edges) == expected_edges
    assert all(data["weight"] == 1.0 for _, _, data in graph.edges(data=True))
    assert all(data["id"] == f"{s}_{t}" for s, t, data in graph.edges(data=True))
    assert (export.counts.records, export.counts.edges) == (len(pages), len(expected_edges))
    assert declared_types(data) == dict(services.PAGE_GEXF_ATTRIBUTES)


def test_pagegexf_default_edges(corpus):
    graph = parse(run_export(corpus.land, "pagegexf")[0])
    p = {name: str(page.pk) for name, page in corpus.pages.items()}
    # Same-domain links, links to pages below minrel and links from other lands are left out.
    assert set(graph.edges) == {(p["p1"], p["p3"]), (p["p2"], p["p3"]), (p["p3"], p["p1"]), (p["p5"], p["p1"])}


def test_hostile_text_is_cleaned_in_gexf(corpus):
    data, _ = run_export(corpus.land, "pagegexf")
    title = parse(data).nodes[str(corpus.pages["p1"].pk)]["title"]
    # Quotes, CR/LF, tabs, XML specials and astral characters survive; XML-invalid characters are removed.
    assert title == 'He said "hi", then;\nleft\r\nagain\ttab nul  ctrl & <b>bold</b> é 😀  end'
    for invalid in (b"\x00", b"\x01", b"\x08", b"\x1f", "\ufffe".encode()):
        assert invalid not in data


def test_nodegexf_matches_the_database(corpus) -> None:
    data, export = run_export(corpus.land, "nodegexf")
    graph = parse(data)
    pages = selected_pages(corpus.land)
    by_domain = defaultdict(list)
    for page in pages:
        by_domain[page.domain_id].append(page)

    assert set(graph.nodes) == {str(domain_id) for domain_id in by_domain}
    for domain_id, domain_pages in by_domain.items():
        domain = Domain.objects.get(pk=domain_id)
        node = graph.nodes[str(domain_id)]
        # selected_pages() keeps only pages with a relevance, so ``or 0`` never applies.
        mean = round(sum(page.relevance or 0 for page in domain_pages) / len(domain_pages), 2)
        assert node["label"] == domain.name
        assert node["expressions"] == len(domain_pages)
        assert node["average_relevance"] == mean
        assert node["viz"]["size"] == mean
        assert node.get("title") == domain.title

    ids = {page.pk: page.domain_id for page in pages}
    weights: dict[tuple[str, str], int] = defaultdict(int)
    for link in ExpressionLink.objects.all():
        if link.source_id in ids and link.target_id in ids and ids[link.source_id] != ids[link.target_id]:
            weights[(str(ids[link.source_id]), str(ids[link.target_id]))] += 1
    assert {(s, t): d["weight"] for s, t, d in graph.edges(data=True)} == weights
    a, b = str(corpus.domains["a"].pk), str(corpus.domains["b"].pk)
    assert weights == {(a, b): 2, (b, a): 2}
    assert (export.counts.records, export.counts.edges) == (2, 2)
    assert declared_types(data) == dict(services.NODE_GEXF_ATTRIBUTES)


def media_key(media: Media) -> str:
    if media.image_hash:
        return f"sha256-{media.image_hash}"
    return "url-" + hashlib.sha1(media.url.encode()).hexdigest()


def expected_media_graph(land, nodes: str, types=("img", "video", "audio"), minrel=1, depth=None, failed=False):
    pages = {page.pk: page for page in selected_pages(land, minrel, depth)}
    media = [
        m
        for m in Media.objects.filter(expression_id__in=pages).order_by("id")
        if m.type in types and (failed or m.analysis_status != "failed")
    ]
    holders: dict[str, dict] = {}
    images: dict[str, dict] = {}
    edges: dict[tuple[str, str], int] = defaultdict(int)
    for m in media:
        page = pages[m.expression_id]
        holder = f"page-{page.pk}" if nodes == "page" else f"domain-{page.domain_id}"
        info = holders.setdefault(holder, {"media": 0, "pages": set()})
        info["media"] += 1
        info["pages"].add(page.pk)
        image = images.setdefault(media_key(m), {"first": m, "pages": set(), "domains": set(), "occurrences": 0})
        image["occurrences"] += 1
        image["pages"].add(page.pk)
        image["domains"].add(page.domain_id)
        edges[(holder, media_key(m))] += 1
    return pages, holders, images, edges


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"nodes": "domain"},
        {"media_types": "img"},
        {"nodes": "domain", "minrel": 0, "depth": 1},
        {"include_failed": True},
        {"nodes": "domain", "include_failed": True, "dynamic": True},
    ],
)
def test_mediagexf_matches_the_database(corpus, params):
    data, export = run_export(corpus.land, "mediagexf", **params)
    graph = parse(data)
    nodes = params.get("nodes", "page")
    types = tuple(params.get("media_types", "img,video,audio").split(","))
    pages, holders, images, edges = expected_media_graph(
        corpus.land, nodes, types, params.get("minrel", 1), params.get("depth"), params.get("include_failed", False)
    )

    assert set(graph.nodes) == set(holders) | set(images)
    for node_id, info in holders.items():
        node = graph.nodes[node_id]
        assert node["kind"] == nodes
        assert node["media"] == info["media"]
        if nodes == "page":
            page = pages[int(node_id.removeprefix("page-"))]
            assert (node["label"], node["url"], node["relevance"], node["depth"]) == (
                page.url,
                page.url,
                page.relevance,
                page.depth,
            )
            assert node["domain"] == page.domain.name
        else:
            assert node["pages"] == len(info["pages"])
            assert node["label"] == node["domain"] == Domain.objects.get(pk=node_id.removeprefix("domain-")).name
    for node_id, info in images.items():
        node, first = graph.nodes[node_id], info["first"]
        assert node["kind"] == "media"
        assert node["type"] == first.type
        assert node["occurrences"] == info["occurrences"]
        assert node["pages"] == len(info["pages"])
        assert node["domains"] == len(info["domains"])
        assert node.get("width") == first.width
        assert node.get("height") == first.height
        assert node.get("format") == first.format
        assert node.get("image_hash") == first.image_hash
        assert node.get("phash") == first.phash
    assert {(s, t): d["weight"] for s, t, d in graph.edges(data=True)} == edges
    assert (export.counts.records, export.counts.edges) == (len(holders) + len(images), len(edges))


def test_mediagexf_leaves_failed_media_out_unless_asked(corpus):
    failed = f"sha256-{'b' * 64}"  # m8: its latest attempt failed
    p2 = f"page-{corpus.pages['p2'].pk}"
    plain = parse(run_export(corpus.land, "mediagexf")[0])
    assert failed not in plain
    # Its page still shows the pending media it holds, and counts only those.
    assert plain.nodes[p2]["media"] == 1
    kept = parse(run_export(corpus.land, "mediagexf", include_failed="true")[0])
    assert kept.nodes[failed]["status"] == "failed"
    assert kept.nodes[p2]["media"] == 2
    assert kept.has_edge(p2, failed)


def test_dynamic_mediagexf_starts_nodes_and_edges_at_their_first_appearance(corpus):
    data, _ = run_export(corpus.land, "mediagexf", dynamic=True)
    assert b'mode="dynamic" timeformat="date"' in data
    graph = parse(data)
    assert graph.graph["mode"] == "dynamic"
    p1, p3, p5 = (f"page-{corpus.pages[name].pk}" for name in ("p1", "p3", "p5"))
    hub = f"sha256-{'a' * 64}"
    # p1 by its publication, p3 by its fetch (never published), p5 by its publication.
    assert (graph.nodes[p1]["start"], graph.nodes[p3]["start"], graph.nodes[p5]["start"]) == (
        "2024-01-10",
        "2024-03-05",
        "2023-12-01",
    )
    # The red image first appeared on p5, the earliest of the three pages showing it.
    assert graph.nodes[hub]["start"] == "2023-12-01"
    assert graph.edges[p1, hub]["start"] == "2024-01-10"
    assert graph.edges[p3, hub]["start"] == "2024-03-05"
    # An undated page (p2) and what only it shows have no start: present throughout.
    p2 = f"page-{corpus.pages['p2'].pk}"
    assert "start" not in graph.nodes[p2]

    by_domain = parse(run_export(corpus.land, "mediagexf", dynamic=True, nodes="domain")[0])
    b_domain = f"domain-{corpus.domains['b'].pk}"
    assert by_domain.nodes[b_domain]["start"] == "2023-12-01"
    assert by_domain.edges[b_domain, hub]["start"] == "2023-12-01"
    assert by_domain.nodes[hub]["start"] == "2023-12-01"


def test_static_mediagexf_has_no_dates(corpus):
    data, _ = run_export(corpus.land, "mediagexf")
    assert b'mode="static"' in data
    assert b"start=" not in data


@pytest.mark.parametrize("option", ["include_failed", "dynamic"])
def test_media_graph_options_are_for_mediagexf_only(corpus, option):
    with pytest.raises(InvalidParameters) as caught:
        services.prepare_export(corpus.land, "pagegexf", **{option: True})
    assert caught.value.errors == {option: [f"{option} applies to mediagexf only, not pagegexf"]}


def test_pagegexf_carries_dates_on_request(corpus):
    plain = parse(run_export(corpus.land, "pagegexf")[0])
    p1, p3 = corpus.pages["p1"].pk, corpus.pages["p3"].pk
    assert "published_at" not in plain.nodes[str(p1)]
    graph = parse(run_export(corpus.land, "pagegexf", dates=True)[0])
    assert graph.nodes[str(p1)]["published_at"] == "2024-01-10T09:00:00+00:00"
    assert graph.nodes[str(p1)]["fetched_at"] == "2024-02-01T18:00:00+00:00"
    assert "published_at" not in graph.nodes[str(p3)]
    assert graph.nodes[str(p3)]["fetched_at"] == "2024-03-05T07:00:00+00:00"
    # The crawler's attributes are unchanged.
    assert graph.nodes[str(p1)]["relevance"] == 3


def test_mediagexf_reused_image_is_one_hub(corpus):
    graph = parse(run_export(corpus.land, "mediagexf")[0])
    hub = f"sha256-{'a' * 64}"
    pages = {f"page-{corpus.pages[name].pk}" for name in ("p1", "p3", "p5")}
    assert set(graph.predecessors(hub)) == pages
    node = graph.nodes[hub]
    # The other land shows the same image: it must not count here.
    assert (node["occurrences"], node["pages"], node["domains"]) == (3, 3, 2)
    assert node["viz"]["color"] == {"r": 200, "g": 30, "b": 40, "a": 1.0}
    assert node["dominant_color"] == "#c81e28"
    assert node["dominant_color_share"] == 91.5
    assert node["width"] == 320
    assert node["file_size"] == corpus.media["m1"].file_size
    assert node["has_transparency"] is False
    assert node["aspect_ratio"] == 1.33
    # Never downloaded: one node per URL, shared by the two pages showing it.
    url_node = "url-" + hashlib.sha1(b"https://cdn.example/pending.jpg").hexdigest()
    assert set(graph.predecessors(url_node)) == {f"page-{corpus.pages[n].pk}" for n in ("p1", "p2")}
    assert "width" not in graph.nodes[url_node]
    assert "viz" not in graph.nodes[url_node] or "color" not in graph.nodes[url_node]["viz"]


def test_mediagexf_attribute_types(corpus):
    for nodes in ("page", "domain"):
        data, _ = run_export(corpus.land, "mediagexf", nodes=nodes)
        types = declared_types(data)
        assert types["width"] == types["height"] == types["occurrences"] == types["pages"] == "integer"
        assert types["file_size"] == "long"
        assert types["aspect_ratio"] == types["dominant_color_share"] == "double"
        assert types["has_transparency"] == "boolean"
        assert types["image_hash"] == types["phash"] == types["format"] == types["kind"] == "string"
        if nodes == "page":
            assert types["relevance"] == types["depth"] == "integer"
        else:
            assert "relevance" not in types


def test_empty_graphs_are_valid(corpus):
    for export_type in ("pagegexf", "nodegexf", "mediagexf"):
        data, export = run_export(corpus.land, export_type, minrel=100)
        graph = parse(data)
        assert graph.number_of_nodes() == graph.number_of_edges() == 0
        assert export.counts.records == 0


@pytest.mark.parametrize(
    ("export_type", "params", "queries"),
    [
        ("pagegexf", {}, 2),
        ("pagegexf", {"dates": True}, 2),
        ("nodegexf", {}, 2),
        ("mediagexf", {}, 3),
        ("mediagexf", {"nodes": "domain"}, 3),
        ("mediagexf", {"dynamic": True, "include_failed": True}, 3),
        ("mediagexf", {"dynamic": True, "nodes": "domain"}, 3),
    ],
)
def test_gexf_query_count_does_not_depend_on_size(
    corpus, monkeypatch, django_assert_num_queries, export_type, params, queries
):
    monkeypatch.setattr(services, "CHUNK_SIZE", 2)
    with django_assert_num_queries(queries):
        data, export = run_export(corpus.land, export_type, minrel=0, **params)
    assert export.counts.records >= 3
    assert parse(data).number_of_nodes() == export.counts.records
