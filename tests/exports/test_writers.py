"""The pure writers, without a database."""

from __future__ import annotations

import csv
import io
import itertools
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from decimal import Decimal

import networkx as nx
import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from exports import writers
from exports.columns import dominant_hexes, dominant_shares, primary_color, top_websafe
from exports.writers import GexfAttribute, GexfEdge, GexfNode, clean_xml_text, csv_cell, iter_csv, iter_gexf

HOSTILE = 'a "quoted", field;\nwith\r\nbreaks\tand \x00NUL \x01\x0b\x1b\x7f & <tag> é 😀 \ufffe\uffff\ud800 end'


def gexf_bytes(**kwargs) -> bytes:
    defaults = {"creator": "medianalyse", "description": "test", "node_attributes": [], "nodes": [], "edges": []}
    return b"".join(iter_gexf(**{**defaults, **kwargs}))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (12, "12"),
        (0.1, "0.1"),
        (Decimal("2.50"), "2.50"),
        ("a\x00b", "ab"),
        (["#ffffff", "#000000"], '["#ffffff","#000000"]'),
        ({"é": 1}, '{"é":1}'),
        (datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "2024-01-02T03:04:05+00:00"),
        (date(2024, 1, 2), "2024-01-02"),
    ],
)
def test_csv_cell(value, expected):
    assert csv_cell(value) == expected


def test_csv_round_trips_hostile_and_huge_text():
    huge = "ß" * 300_000 + '"\n'
    data = b"".join(iter_csv(["id", "text", "empty"], [[1, HOSTILE, None], [2, huge, ""]]))
    previous = csv.field_size_limit(10_000_000)
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    finally:
        csv.field_size_limit(previous)
    # Only NUL goes; the lone surrogate, which has no UTF-8 form, becomes "?".
    assert rows == [
        ["id", "text", "empty"],
        ["1", HOSTILE.replace("\x00", "").replace("\ud800", "?"), ""],
        ["2", huge, ""],
    ]
    assert data.startswith(b'"id","text","empty"\r\n"1","a ""quoted"", field;\n')


def test_csv_header_alone_when_no_rows():
    assert b"".join(iter_csv(["a", "b"], [])) == b'"a","b"\r\n'


def test_csv_and_gexf_are_streamed(monkeypatch):
    """The first chunk comes out long before the (endless) rows run out."""
    monkeypatch.setattr(writers, "CHUNK_CHARS", 1000)
    rows = ([n, "x" * 50] for n in itertools.count())
    first = next(iter_csv(["n", "x"], rows))
    assert 1000 <= len(first) < 2000
    assert next(rows)[0] < 30

    nodes = (GexfNode(n, f"node {n}") for n in itertools.count())
    chunks = iter_gexf(creator="c", description="d", node_attributes=[], nodes=nodes, edges=[])
    assert b"<nodes>" in next(chunks)
    assert next(nodes).id < 100


def test_chunked_csv_equals_unchunked(monkeypatch):
    rows = [[n, HOSTILE, n / 3] for n in range(500)]
    whole = b"".join(iter_csv(["n", "t", "f"], rows))
    monkeypatch.setattr(writers, "CHUNK_CHARS", 100)
    chunks = list(iter_csv(["n", "t", "f"], rows))
    assert len(chunks) > 100
    assert b"".join(chunks) == whole


def test_clean_xml_text():
    assert clean_xml_text(HOSTILE) == 'a "quoted", field;\nwith\r\nbreaks\tand NUL \x7f & <tag> é 😀  end'
    assert clean_xml_text("plain") == "plain"


def test_gexf_with_hostile_text_parses_and_keeps_types():
    attributes = [
        GexfAttribute("text", "string"),
        GexfAttribute("count", "integer"),
        GexfAttribute("big", "long"),
        GexfAttribute("share", "double"),
        GexfAttribute("flag", "boolean"),
    ]
    nodes = [
        GexfNode("a&<\"'>", HOSTILE, [HOSTILE, 3, 2**40, 0.25, True], size=2.5, color="#0a0B0c"),
        GexfNode(2, None, [None, None, None, float("nan"), False]),
    ]
    edges = [GexfEdge("a&<\"'>", 2, 3), GexfEdge(2, 2, None, "loop")]
    data = gexf_bytes(node_attributes=attributes, nodes=nodes, edges=edges, description=HOSTILE)
    graph = nx.read_gexf(io.BytesIO(data), version="1.3")
    first = graph.nodes["a&<\"'>"]
    cleaned = clean_xml_text(HOSTILE)
    assert first["label"] == first["text"] == cleaned
    assert (first["count"], first["big"], first["share"], first["flag"]) == (3, 2**40, 0.25, True)
    assert first["viz"] == {"size": 2.5, "color": {"r": 10, "g": 11, "b": 12, "a": 1.0}}
    second = graph.nodes["2"]
    assert "text" not in second
    assert "count" not in second
    assert np.isnan(second["share"])
    assert second["flag"] is False
    assert graph.edges["a&<\"'>", "2"]["weight"] == 3.0
    assert graph.edges["a&<\"'>", "2"]["id"] == "0"
    assert graph.edges["2", "2"]["id"] == "loop"
    assert "weight" not in graph.edges["2", "2"]
    root = ET.fromstring(data)
    assert root.find("{http://gexf.net/1.3}meta/{http://gexf.net/1.3}description").text == cleaned


def test_empty_gexf_is_valid():
    graph = nx.read_gexf(io.BytesIO(gexf_bytes()), version="1.3")
    assert graph.number_of_nodes() == 0
    assert isinstance(graph, nx.DiGraph)


def test_gexf_rejects_unknown_attribute_type():
    with pytest.raises(ValueError, match="Unsupported"):
        GexfAttribute("x", "date-ish")


def test_hex_to_rgb():
    assert writers.hex_to_rgb("#FF8000") == (255, 128, 0)
    assert writers.hex_to_rgb("fff") == (255, 255, 255)
    assert writers.hex_to_rgb("#zzzzzz") is None
    assert writers.hex_to_rgb(None) is None


def test_colour_helpers_on_a_real_photo():
    # Colours as the analysis stores them, from a real photograph.
    photo = Image.fromarray(load_sample_image("flower.jpg")).convert("P", palette=Image.Palette.ADAPTIVE, colors=3)
    counts = sorted(photo.getcolors(), reverse=True)
    palette = photo.getpalette()
    total = sum(count for count, _ in counts)
    stored = [
        {"rgb": palette[3 * index : 3 * index + 3], "percentage": round(100 * count / total, 2)}
        for count, index in counts
    ]
    hexes = dominant_hexes(stored)
    assert len(hexes) == 3
    assert all(h.startswith("#") and len(h) == 7 for h in hexes)
    assert dominant_shares(stored) == [entry["percentage"] for entry in stored]
    assert primary_color(stored) == (hexes[0], stored[0]["percentage"])


def test_colour_helpers_tolerate_every_stored_shape():
    assert dominant_hexes(None) is None
    assert dominant_hexes([]) == []
    assert dominant_hexes(["#ABCDEF", {"hex": "#000000", "share": 0.2}, {"rgb": [300, -1, 16]}, {"bad": 1}]) == [
        "#abcdef",
        "#000000",
        "#ff0010",
    ]
    # Fractions are turned into percentages, like the analysis stores them.
    assert dominant_shares([{"hex": "#000000", "share": 0.2}, {"rgb": [1, 2, 3]}]) == [20.0, None]
    assert primary_color([{"oops": True}]) == (None, None)
    assert top_websafe({"#FFFFFF": 10, "#000000": 90.5}) == "#000000"
    assert top_websafe([{"hex": "#333333", "percentage": 5}, {"hex": "#cccccc", "percentage": 50}]) == "#cccccc"
    assert top_websafe({}) is None
    assert top_websafe(None) is None


def test_a_dynamic_graph_writes_starts_in_its_time_format():
    data = b"".join(
        iter_gexf(
            creator="t",
            description="d",
            node_attributes=[],
            nodes=[GexfNode("a", "A", start="2024-01-02"), GexfNode("b", "B")],
            edges=[GexfEdge("a", "b", 1, start="2024-01-03")],
            timeformat="date",
        )
    )
    graph = nx.read_gexf(io.BytesIO(data), version="1.3")
    assert graph.graph["mode"] == "dynamic"
    assert graph.nodes["a"]["start"] == "2024-01-02"
    assert "start" not in graph.nodes["b"]
    assert graph.edges["a", "b"]["start"] == "2024-01-03"
    with pytest.raises(ValueError):
        next(iter_gexf(creator="t", description="d", node_attributes=[], nodes=[], edges=[], timeformat="week"))
