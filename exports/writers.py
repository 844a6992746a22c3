"""Streaming CSV and GEXF writers: rows and graph elements in, UTF-8 byte chunks out.

Plain Python, no Django. The caller feeds iterators (over database cursors) and
passes each chunk on to a file or an HTTP response, so an export of any size is
never held whole in memory: only the current chunk is.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

# Chunks are flushed at about this size: big enough to keep per-chunk overhead
# (an HTTP write, a thread hop under ASGI) negligible, small enough to stay flat.
CHUNK_CHARS = 64 * 1024

# --- Text cleaning -------------------------------------------------------------

# Everything outside the XML 1.0 Char production, lone surrogates included:
# crawled titles carry control characters that would make the whole file unreadable.
_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# Newlines and tabs are escaped as character references because an XML parser
# normalises literal ones in attribute values to spaces.
_XML_ATTR_ESCAPES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
)
# In element text only CR is normalised away (CRLF becomes LF).
_XML_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})


def clean_xml_text(text: str) -> str:
    """Remove the characters XML 1.0 cannot carry (controls, lone surrogates, U+FFFE/U+FFFF)."""
    return _XML_INVALID.sub("", text)


def xml_attr(value: Any) -> str:
    """A cleaned, escaped attribute value (without the surrounding quotes)."""
    return clean_xml_text(str(value)).translate(_XML_ATTR_ESCAPES)


def xml_text(value: Any) -> str:
    return clean_xml_text(str(value)).translate(_XML_TEXT_ESCAPES)


def _encode(text: str) -> bytes:
    # Crawled text decoded with the wrong charset can hold lone surrogates; they
    # have no UTF-8 form, and one of them must not abort a whole export.
    return text.encode("utf-8", "replace")


# --- CSV -----------------------------------------------------------------------


# A spreadsheet reads a cell starting with one of these as a formula: a crawled
# title "=HYPERLINK(...)" or "=cmd|..." would run when a researcher opens the
# file (CSV injection). OWASP's advice is a leading single quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Text that is only a number ("-3", "+0.5", "-1e-05") is no formula, and stays a number.
_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def neutralise_formula(text: str) -> str:
    """``text`` with a ``'`` in front when a spreadsheet would read it as a formula."""
    if text.startswith(_FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


# json.dumps with these options builds an encoder per call; a media CSV has a few JSON cells per row.
_json_cell = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def csv_cell(value: Any, *, raw: bool = False) -> str:
    """One CSV field: NULL as empty, booleans as true/false, JSON for lists and dicts, no NUL.

    Text that a spreadsheet would run as a formula is neutralised unless ``raw``;
    numbers, dates and JSON are written as they are (they cannot start a formula).
    """
    if value is None:
        return ""
    if isinstance(value, str):
        # NUL is the one character CSV readers (Python's included) refuse.
        text = value.replace("\x00", "") if "\x00" in value else value
        return text if raw else neutralise_formula(text)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple | dict):
        return _json_cell(value)
    return csv_cell(str(value), raw=raw)


_CSV_AS_IS = frozenset({type(None), int, float})


# Text of a column joined with this between values: a formula start right after it is a formula start of a value.
_JOIN = "\x01"
_JOINED_FORMULA_STARTS = tuple(_JOIN + start for start in _FORMULA_STARTS)


def csv_cells(values: Iterable[Any], *, raw: bool = False) -> Sequence[Any]:
    """``csv_cell`` of each value, except those the csv module already writes as ``csv_cell`` would
    (None, numbers, text that is neither a formula nor holds a NUL), which are kept as they are.

    A column of numbers, or of text none of which needs a change, is returned as it is after checks
    made in C over the whole column (the types present; the text joined once).
    """
    column = values if isinstance(values, list | tuple) else list(values)
    if _CSV_AS_IS.issuperset(map(type, column)):
        return column
    try:
        # filter(None) leaves out None and "" (written as they are); anything but text raises.
        joined = _JOIN.join(filter(None, column))
    except TypeError:
        joined = None
    if (
        joined is not None
        and "\x00" not in joined
        and (
            raw or not (joined.startswith(_FORMULA_STARTS) or any(start in joined for start in _JOINED_FORMULA_STARTS))
        )
    ):
        return column
    as_is, formula_starts = _CSV_AS_IS, () if raw else _FORMULA_STARTS
    return [
        value
        if (kind := value.__class__) in as_is
        or (kind is str and not value.startswith(formula_starts) and "\x00" not in value)
        else csv_cell(value, raw=raw)
        for value in column
    ]


def _drained(buffer: io.StringIO) -> bytes:
    """What ``buffer`` holds, encoded, and the buffer emptied for the next rows."""
    data = _encode(buffer.getvalue())
    buffer.seek(0)
    buffer.truncate()
    return data


def csv_header(names: Iterable[str]) -> str:
    """The header line of a CSV export, quoted as every other line."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL).writerow(list(names))
    return buffer.getvalue()


def iter_csv_columns(header: Sequence[str], chunks: Iterable[Sequence[Sequence[Any]]]) -> Iterator[bytes]:
    """``iter_csv`` for rows given as chunks of columns of cells already made by ``csv_cells`` (or equal to
    what it would make): each chunk is written as rows with one call."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    for columns in chunks:
        writer.writerows(zip(*columns, strict=True))
        if buffer.tell() >= CHUNK_CHARS:
            yield _drained(buffer)
    if buffer.tell():
        yield _encode(buffer.getvalue())


def iter_csv(header: Sequence[str], rows: Iterable[Sequence[Any]], *, raw: bool = False) -> Iterator[bytes]:
    """UTF-8 CSV, every field quoted, CRLF line ends; the header is written even with no rows.

    Cells that would be formulas in a spreadsheet are neutralised (``csv_cell``) unless ``raw``.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    # The csv module writes these as csv_cell would (None empty, floats by repr), and most text needs no
    # change: only the rest goes through csv_cell.
    as_is, formula_starts = _CSV_AS_IS, () if raw else _FORMULA_STARTS
    for row in rows:
        writer.writerow(
            [
                value
                if (kind := value.__class__) in as_is
                or (kind is str and not value.startswith(formula_starts) and "\x00" not in value)
                else csv_cell(value, raw=raw)
                for value in row
            ]
        )
        if buffer.tell() >= CHUNK_CHARS:
            yield _drained(buffer)
    if buffer.tell():
        yield _encode(buffer.getvalue())


# --- GEXF ----------------------------------------------------------------------

GEXF_NAMESPACE = "http://gexf.net/1.3"
GEXF_VIZ_NAMESPACE = "http://gexf.net/1.3/viz"
GEXF_VERSION = "1.3"
GEXF_TYPES = frozenset({"integer", "long", "float", "double", "boolean", "string"})
GEXF_TIME_FORMATS = frozenset({"integer", "double", "date", "dateTime"})


@dataclass(frozen=True)
class GexfAttribute:
    """A declared node attribute; its position in the declaration list is its GEXF id."""

    title: str
    type: str

    def __post_init__(self) -> None:
        if self.type not in GEXF_TYPES:
            raise ValueError(f"Unsupported GEXF attribute type {self.type!r}")


class GexfNode(NamedTuple):
    id: str | int
    label: str | None
    # One value per declared attribute, in declaration order; None leaves the attvalue out.
    values: Sequence[Any] = ()
    size: float | None = None
    color: str | None = None  # "#rrggbb"
    start: str | None = None  # in a dynamic graph: when the node appears (in the graph's time format)


class GexfEdge(NamedTuple):
    source: str | int
    target: str | int
    weight: float | None = None
    id: str | None = None
    start: str | None = None  # in a dynamic graph: when the edge appears


def _typed(value: Any, gexf_type: str) -> str:
    if gexf_type in ("integer", "long"):
        return str(int(value))
    if gexf_type in ("float", "double"):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return "INF" if number > 0 else "-INF"
        return repr(number)
    if gexf_type == "boolean":
        return "true" if value else "false"
    return xml_attr(value)


def _number(value: float | int) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


def hex_to_rgb(color: str | None) -> tuple[int, int, int] | None:
    """'#rrggbb' (or 'rrggbb', '#rgb') to a triple; None for anything else."""
    if not isinstance(color, str):
        return None
    digits = color.strip().lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    if len(digits) != 6:
        return None
    try:
        return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)
    except ValueError:
        return None


def _node_xml(node: GexfNode, attributes: Sequence[GexfAttribute]) -> str:
    parts = [f'      <node id="{xml_attr(node.id)}"']
    if node.label is not None:
        parts.append(f' label="{xml_attr(node.label)}"')
    if node.start is not None:
        parts.append(f' start="{xml_attr(node.start)}"')
    parts.append(">")
    attvalues = [
        f'<attvalue for="{index}" value="{_typed(value, attribute.type)}"/>'
        for index, (attribute, value) in enumerate(zip(attributes, node.values, strict=False))
        if value is not None
    ]
    if attvalues:
        parts.append("<attvalues>")
        parts.extend(attvalues)
        parts.append("</attvalues>")
    if node.size is not None:
        parts.append(f'<viz:size value="{_number(node.size)}"/>')
    rgb = hex_to_rgb(node.color)
    if rgb is not None:
        parts.append(f'<viz:color r="{rgb[0]}" g="{rgb[1]}" b="{rgb[2]}"/>')
    parts.append("</node>\n")
    return "".join(parts)


def _edge_xml(edge: GexfEdge, fallback_id: int) -> str:
    edge_id = edge.id if edge.id is not None else fallback_id
    weight = f' weight="{_number(edge.weight)}"' if edge.weight is not None else ""
    start = f' start="{xml_attr(edge.start)}"' if edge.start is not None else ""
    return (
        f'      <edge id="{xml_attr(edge_id)}" source="{xml_attr(edge.source)}" '
        f'target="{xml_attr(edge.target)}"{weight}{start}/>\n'
    )


def iter_gexf(
    *,
    creator: str,
    description: str,
    node_attributes: Sequence[GexfAttribute],
    nodes: Iterable[GexfNode],
    edges: Iterable[GexfEdge],
    last_modified: date | None = None,
    directed: bool = True,
    timeformat: str | None = None,
) -> Iterator[bytes]:
    """A GEXF 1.3 document written element by element.

    ``nodes`` is consumed entirely before ``edges`` is started, so the two may be
    lazy queries; every edge must name nodes that were yielded. With a
    ``timeformat`` (``date``, ``dateTime``, ``integer`` or ``double``) the graph is
    dynamic and the nodes' and edges' ``start`` are written in that format.
    """
    if timeformat is not None and timeformat not in GEXF_TIME_FORMATS:
        raise ValueError(f"Unsupported GEXF time format {timeformat!r}")
    mode = f'mode="dynamic" timeformat="{timeformat}"' if timeformat else 'mode="static"'

    last_modified = last_modified or date.today()
    head = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<gexf xmlns="{GEXF_NAMESPACE}" xmlns:viz="{GEXF_VIZ_NAMESPACE}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        f'xsi:schemaLocation="{GEXF_NAMESPACE} {GEXF_NAMESPACE}/gexf.xsd" version="{GEXF_VERSION}">\n',
        f'  <meta lastmodifieddate="{last_modified.isoformat()}">\n',
        f"    <creator>{xml_text(creator)}</creator>\n",
        f"    <description>{xml_text(description)}</description>\n",
        "  </meta>\n",
        f'  <graph {mode} defaultedgetype="{"directed" if directed else "undirected"}">\n',
    ]
    if node_attributes:
        head.append('    <attributes class="node" mode="static">\n')
        head.extend(
            f'      <attribute id="{index}" title="{xml_attr(attribute.title)}" type="{attribute.type}"/>\n'
            for index, attribute in enumerate(node_attributes)
        )
        head.append("    </attributes>\n")
    head.append("    <nodes>\n")
    buffer = ["".join(head)]
    size = len(buffer[0])

    for node in nodes:
        text = _node_xml(node, node_attributes)
        buffer.append(text)
        size += len(text)
        if size >= CHUNK_CHARS:
            yield _encode("".join(buffer))
            buffer, size = [], 0

    buffer.append("    </nodes>\n    <edges>\n")
    for number, edge in enumerate(edges):
        text = _edge_xml(edge, number)
        buffer.append(text)
        size += len(text)
        if size >= CHUNK_CHARS:
            yield _encode("".join(buffer))
            buffer, size = [], 0

    buffer.append("    </edges>\n  </graph>\n</gexf>\n")
    yield _encode("".join(buffer))
