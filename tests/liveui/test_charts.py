"""The SVG charts: well-formed XML, one mark per datum, sized by value, text alternatives."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from media_analysis.web import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(chart: charts.Chart) -> ET.Element:
    return ET.fromstring(chart.svg)


def bars(root: ET.Element) -> list[ET.Element]:
    return [rect for rect in root.iter(f"{SVG}rect") if rect.get("class") == "bar"]


def test_bar_chart_has_one_bar_per_item_scaled_to_the_largest():
    chart = charts.bar_chart([("JPEG", 120), ("PNG", 30), ("GIF", 60)], chart_id="formats", title="Formats")
    root = parse(chart)
    found = bars(root)
    assert [b.get("data-label") for b in found] == ["JPEG", "PNG", "GIF"]
    widths = {b.get("data-label"): float(b.get("width")) for b in found}
    assert widths["JPEG"] == pytest.approx(4 * widths["PNG"], rel=0.01)
    assert widths["GIF"] == pytest.approx(2 * widths["PNG"], rel=0.01)
    assert [b.get("data-value") for b in found] == ["120", "30", "60"]


def test_bar_chart_text_alternative_names_every_value():
    chart = charts.bar_chart([("JPEG", 120), ("PNG", 30)], chart_id="formats", title="Formats", unit="media")
    root = parse(chart)
    assert root.get("role") == "img"
    title = root.find(f"{SVG}title")
    desc = root.find(f"{SVG}desc")
    assert title is not None
    assert title.text == "Formats"
    assert desc is not None
    assert "JPEG: 120 media" in desc.text
    assert "PNG: 30 media" in desc.text
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert chart.rows == [("JPEG", "120 media"), ("PNG", "30 media")]
    # Each bar repeats its value as visible text, not only as a length.
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "120 media" in texts
    assert "30 media" in texts


def test_labels_are_escaped_and_hostile_colours_ignored():
    label = '<script>alert("x")</script>&'
    chart = charts.bar_chart([(label, 3)], chart_id="x", title="T <b>", colors={label: "red;background:url(//evil)"})
    root = parse(chart)  # still well-formed XML
    assert "<script>" not in chart.svg
    (bar,) = bars(root)
    assert bar.get("data-label") == label
    assert bar.get("fill") == charts.DEFAULT_FILL
    assert root.find(f"{SVG}title").text == "T <b>"


def test_palette_bars_are_painted_in_their_own_colours_and_labelled_with_hex():
    chart = charts.palette_chart([("#ff0000", 50.0), ("#0000FF", 25.04)], chart_id="palette", title="Palette")
    root = parse(chart)
    found = bars(root)
    assert [b.get("fill") for b in found] == ["#ff0000", "#0000ff"]
    assert float(found[0].get("width")) == pytest.approx(2 * float(found[1].get("width")), rel=0.01)
    assert chart.rows == [("#ff0000", "50%"), ("#0000FF", "25%")]
    assert "#ff0000: 50%" in root.find(f"{SVG}desc").text


def test_histogram_columns_follow_counts_and_keep_empty_bins():
    chart = charts.histogram([("0-10 kB", 4), ("10-50 kB", 0), ("50 kB+", 8)], chart_id="sizes", title="File sizes")
    root = parse(chart)
    found = bars(root)
    assert [b.get("data-value") for b in found] == ["4", "0", "8"]
    heights = [float(b.get("height")) for b in found]
    assert heights[1] == 0
    assert heights[2] == pytest.approx(2 * heights[0], rel=0.01)
    # Columns grow upwards from a common baseline.
    bottoms = {round(float(b.get("y")) + float(b.get("height")), 1) for b in found}
    assert len(bottoms) == 1
    assert chart.headers == ("Range", "Media")


def test_heatmap_cells_and_counts():
    labels = ["0-100", "100-200", "200+"]
    chart = charts.heatmap(
        labels, labels, {(0, 0): 1, (2, 1): 9}, chart_id="dims", title="Dims", x_title="width", y_title="height"
    )
    root = parse(chart)
    cells = [r for r in root.iter(f"{SVG}rect") if r.get("class") == "cell"]
    assert len(cells) == 9
    values = {(int(c.get("data-x")), int(c.get("data-y"))): int(c.get("data-value")) for c in cells}
    assert values[(0, 0)] == 1
    assert values[(2, 1)] == 9
    assert sum(values.values()) == 10
    by_value = {int(c.get("data-value")): float(c.get("fill-opacity")) for c in cells}
    assert by_value[9] > by_value[1] > by_value[0] == 0
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "9" in texts
    assert "1" in texts
    assert chart.rows[0] == ("width 200+, height 100-200", "9")


@pytest.mark.parametrize(
    "chart",
    [
        charts.bar_chart([], chart_id="a", title="Empty bars"),
        charts.histogram([("a", 0), ("b", 0)], chart_id="b", title="Empty histogram"),
        charts.heatmap(["x"], ["y"], {}, chart_id="c", title="Empty map", x_title="w", y_title="h"),
    ],
)
def test_empty_charts_say_so(chart):
    root = parse(chart)
    assert not chart.rows
    assert not bars(root)
    assert charts.EMPTY_TEXT in "".join(root.itertext())
