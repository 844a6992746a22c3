"""The cluster timeline chart: parsed as XML, marks by shape, hostile labels escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from media_analysis.web import charts

SVG = "{http://www.w3.org/2000/svg}"
START = datetime(2022, 3, 1, tzinfo=UTC)


def parse(chart: charts.Chart) -> ET.Element:
    return ET.fromstring(chart.svg)


def test_marks_tell_publication_fetch_and_crawl_dates_apart():
    points = [
        ("a.example", START, "published"),
        ("b.example", START + timedelta(days=10), "fetched"),
        ("a.example", START + timedelta(days=20), "fetched"),
        ("c.example", START + timedelta(days=30), "crawled"),
        ("d.example", None, "crawled"),
    ]

    chart = charts.timeline_chart(points, chart_id="t", title="Timeline")

    root = parse(chart)
    classes = [element.get("class") for element in root.iter() if (element.get("class") or "").startswith("mark")]
    assert sorted(classes) == ["mark crawled", "mark fetched", "mark fetched", "mark published"]
    published = next(e for e in root.iter(f"{SVG}circle") if e.get("class") == "mark published")
    fetched = [e for e in root.iter(f"{SVG}circle") if e.get("class") == "mark fetched"]
    assert published.get("fill") != "white"
    assert all(e.get("fill") == "white" for e in fetched)
    # Earliest left, latest right; one row per domain, in order of first appearance.
    x = {e.find(f"{SVG}title").text: float(e.get("cx")) for e in [published, *fetched]}
    assert (
        x["a.example: 2022-03-01 00:00 (published)"]
        < x["b.example: 2022-03-11 00:00 (fetched)"]
        < x["a.example: 2022-03-21 00:00 (fetched)"]
    )
    labels = [t.text for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "end" and t.text.endswith("example")]
    assert labels == ["a.example", "b.example", "c.example"]
    assert "1 without a date, not drawn" in chart.description
    assert [row[0] for row in chart.rows] == ["a.example", "b.example", "c.example"]
    assert chart.rows[0][1] == "1 published, 1 fetched; first 2022-03-01"


def test_domains_past_the_limit_are_counted_not_drawn():
    points = [(f"site{i}.example", START + timedelta(days=i), "published") for i in range(30)]

    chart = charts.timeline_chart(points, chart_id="t", title="Timeline", max_domains=25)

    assert len([e for e in parse(chart).iter(f"{SVG}circle")]) == 25
    assert "5 more domains not drawn" in chart.description


def test_hostile_domain_names_are_escaped_and_no_dates_is_an_empty_chart():
    chart = charts.timeline_chart([('"><script>x</script>', START, "published")], chart_id="t", title="T")
    assert "<script>" not in chart.svg
    parse(chart)
    empty = charts.timeline_chart([("a.example", None, "crawled")], chart_id="t", title="T")
    assert charts.EMPTY_TEXT in empty.svg
