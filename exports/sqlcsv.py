"""The media CSV's lines written by PostgreSQL.

Reading a million rows of fifty columns into Python values and handing them to the csv module costs more
than the rest of the export together, even with nothing converted. Here one query gives, per row, the line's
text already quoted: the server writes each column's cell (numbers, booleans, text with its quotes doubled
and a formula neutralised, datetimes in ISO form) and joins them. Python only joins strings, and renders
what lies between those texts: floats (Python's ``repr``, the shortest text that reads back as the same
number, which PostgreSQL writes otherwise for whole numbers and from 1e15 up) and the colour columns, made
from their stored JSON text by the same functions as the row-by-row path.

The output is byte for byte what ``services.media_csv_chunks`` and the csv writer give (``QUOTE_ALL``, CRLF).
A row holding a datetime Python cannot hold (before year 1 or after 9999) has a NULL line and goes through
the row-by-row path, which refuses it as it always did. Only the field types and renders listed here take
this path, on PostgreSQL with time zones on and the connection in UTC; any other column or setting, and
SQLite, leave the whole export to another path (``DatabaseLines.stream`` returns None). On SQLite the same
lines built with ``printf`` cost about what reading the values into Python costs (measured in
``docs/benchmarks/scale.md``), so SQLite joins them from columns of cells in Python (``exports.columnlines``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections, models
from django.db.models import QuerySet

from exports.columns import (
    MediaColumn,
    MediaCsvLines,
    dominant_hexes,
    dominant_shares,
    media_query_plan,
    thumbnail_file,
    top_websafe,
)
from exports.rows import ColumnReader
from exports.writers import _FORMULA_STARTS, csv_cells

# Which SQL a field's values take, by the exact class of the field (a subclass may convert its values).
_INTEGER_FIELDS = (
    models.AutoField,
    models.BigAutoField,
    models.SmallAutoField,
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveBigIntegerField,
    models.PositiveSmallIntegerField,
)
_TEXT_FIELDS = (models.CharField, models.TextField)
# The renders written in SQL (the colour columns, with a ``render_json``, are rendered in Python).
_SQL_RENDERS: frozenset[Callable[..., Any]] = frozenset({thumbnail_file})
_JSON_RENDERS: frozenset[Callable[..., Any]] = frozenset({dominant_hexes, dominant_shares, top_websafe})
_EMPTY: dict[Any, str] = {None: ""}
_AS_IS = frozenset({type(None), int, float})
_PLAIN_NUMBER_PG = "^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([eE][+-]?[0-9]+)?$"


def _kind(field: Any) -> str | None:
    """``integer``, ``float``, ``boolean``, ``datetime``, ``text`` or ``json`` for the fields this path
    writes, None for any other."""
    while type(field) is models.ForeignKey:
        field = field.target_field
    kind = type(field)
    if kind in _INTEGER_FIELDS:
        return "integer"
    if kind is models.FloatField:
        return "float"
    if kind is models.BooleanField:
        return "boolean"
    if kind is models.DateTimeField:
        return "datetime"
    if kind in _TEXT_FIELDS:
        return "text"
    if kind is models.JSONField:
        return "json"
    return None


def _escaped(cells: Sequence[Any]) -> list[str]:
    """Cells (text, numbers, None) as the text between their quotes. Cells never hold a NUL (``csv_cell``
    removes it): one replace over the joined column."""
    texts = ["" if cell is None else str(cell) for cell in cells]
    return "\x00".join(texts).replace('"', '""').split("\x00")


def _nulls(values: Sequence[Any]) -> list[int]:
    return [at for at, value in enumerate(values) if value is None]


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quoted(expression: str) -> str:
    """The quoted CSV cell of a text expression (NULL when it is NULL)."""
    return f"""'"' || replace({expression}, '"', '""') || '"'"""


@dataclass
class _Part:
    """A piece of the line: SQL text (a run of cells and separators) or a value Python renders (a slot)."""

    sql: str
    slot: str | None = None  # "float" or "json"
    column: MediaColumn | None = None
    source: int = 0  # the query column a slot renders


class _Run:
    """A run of cells and separators, written as one SQL text joined with ``||`` (NULL when a cell is)."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def text(self, text: str) -> None:
        self.pieces.append(_sql_text(text).replace("\r\n", "' || chr(13) || chr(10) || '"))

    def cell(self, sql: str) -> None:
        self.pieces.append(sql)

    def clear(self) -> None:
        self.pieces.clear()

    def sql(self) -> str:
        return " || ".join(self.pieces) if self.pieces else "''"


class _Dialect:
    """How one database writes each kind of cell. ``cell`` gives SQL for the quoted cell of ``value``, or
    NULL when the row must go the row-by-row way."""

    def __init__(self, connection: Any, raw: bool) -> None:
        self.connection = connection
        self.raw = raw

    def cell(self, kind: str, value: str) -> str:
        raise NotImplementedError

    def thumbnail_file(self, key: str) -> str:
        raise NotImplementedError


class _PostgresCells(_Dialect):
    def cell(self, kind: str, value: str) -> str:
        if kind == "integer":
            return f"""COALESCE('"' || {value} || '"', '""')"""
        if kind == "boolean":
            return f"""CASE WHEN {value} THEN '"true"' WHEN NOT {value} THEN '"false"' ELSE '""' END"""
        if kind == "datetime":
            # The aware datetime's isoformat() in UTC: microseconds only when there are some. Years Python
            # cannot hold give NULL (the row-by-row path refuses them as it always did).
            text = f"""to_char({value} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')"""
            return (
                f"""CASE WHEN {value} IS NULL THEN '""' """
                f"WHEN {value} >= '0001-01-01 00:00:00+00' AND {value} < '10000-01-01 00:00:00+00' "
                f"""THEN '"' || replace({text}, '.000000', '') || '+00:00"' END"""
            )
        if kind == "text":
            if self.raw:
                return f"""CASE WHEN {value} IS NULL THEN '""' ELSE {_quoted(value)} END"""
            starts = ", ".join(_sql_text(start) for start in _FORMULA_STARTS)
            neutralised = (
                f"CASE WHEN left({value}, 1) IN ({starts}) AND {value} !~ {_sql_text(_PLAIN_NUMBER_PG)} "
                f"THEN '''' || {value} ELSE {value} END"
            )
            return f"""CASE WHEN {value} IS NULL THEN '""' ELSE {_quoted(neutralised)} END"""
        raise ValueError(kind)

    def thumbnail_file(self, key: str) -> str:
        # ``key.rsplit("/", 1)[-1]``; None for NULL and empty text.
        return f"CASE WHEN {key} <> '' THEN reverse(split_part(reverse({key}), '/', 1)) END"


def _dialect(connection: Any, raw: bool) -> _Dialect | None:
    if connection.vendor == "postgresql" and settings.USE_TZ and connection.timezone_name == "UTC":
        return _PostgresCells(connection, raw)
    return None


class DatabaseLines(MediaCsvLines):
    """The media CSV of a queryset written by the database, or None from ``plan`` when some column or
    setting needs the row-by-row path."""

    def __init__(
        self,
        queryset: QuerySet,
        columns: Sequence[MediaColumn],
        *,
        raw: bool,
        stale_values: bool,
        chunk_size: int,
        by_rows: Callable[[QuerySet], Iterator[list[Sequence[Any]]]],
    ) -> None:
        super().__init__(queryset, columns, raw=raw, stale_values=stale_values, chunk_size=chunk_size)
        self.by_rows = by_rows

    def plan(self) -> tuple[str, list[Any], list[_Part], ColumnReader] | None:
        """The query, its parameters, the line's parts, and the reader whose conversions write the cells the
        SQL leaves; None when this path cannot write the export."""
        status_column = MediaColumn("_status", ("analysis_status",))
        paths, positions = media_query_plan([*self.columns, status_column])
        status_index = positions.pop()[0]
        if paths[0] != "id":
            return None
        connection = connections[self.queryset.db]
        dialect = _dialect(connection, self.raw)
        if dialect is None:
            return None
        ordered = self.queryset.order_by("id")
        compiler = ordered.values_list(*paths).query.get_compiler(ordered.db)
        inner, params = compiler.as_sql()
        compiler.setup_query()
        selected = [expression for expression, _, _ in compiler.select[: compiler.col_count]]
        if len(selected) != len(paths):
            return None
        kinds = [_kind(getattr(expression, "output_field", None)) for expression in selected]
        names = [f"c{index}" for index in range(len(paths))]
        status = names[status_index]
        parts: list[_Part] = []
        run = _Run()

        def slot(part: _Part) -> None:
            parts.append(_Part(run.sql()))
            run.clear()
            parts.append(part)

        for number, (column, indexes) in enumerate(zip(self.columns, positions, strict=True)):
            if number:
                run.text(",")
            source = indexes[0]
            kind, name = kinds[source], names[source]
            stale = column.analysis_value and not self.stale_values
            if column.render is None and kind == "float":
                # Written by Python as the row-by-row path writes it: the float's ``repr``.
                run.text('"')
                slot(_Part(f"CASE WHEN {status} = 'done' THEN {name} END" if stale else name, "value", column, source))
                run.text('"')
                continue
            if column.render in _JSON_RENDERS and column.render_json is not None and kind == "json":
                run.text('"')
                slot(_Part(f"CASE WHEN {status} = 'done' THEN {name} END" if stale else name, "json", column, source))
                run.text('"')
                continue
            if column.render is None and kind in ("integer", "boolean", "datetime", "text"):
                value = name
            elif column.render in _SQL_RENDERS and kind == "text" and len(indexes) == 1:
                kind, value = "text", dialect.thumbnail_file(name)
            else:
                return None
            cell = dialect.cell(kind, value)
            run.cell(f"""CASE WHEN {status} = 'done' THEN {cell} ELSE '""' END""" if stale else cell)
        run.text("\r\n")
        parts.append(_Part(run.sql()))
        select = ", ".join(f"{part.sql} AS p{number}" for number, part in enumerate(parts))
        query = f"WITH q ({', '.join(names)}) AS ({inner}) SELECT c0, {select} FROM q ORDER BY c0"
        reader = ColumnReader(ordered, paths, chunk_size=self.chunk_size)
        return query, list(params), parts, reader

    def stream(self, counts: Callable[[int], None]) -> Iterator[bytes] | None:
        """The CSV's bytes, a chunk of rows at a time (``counts`` is told how many rows each chunk held), or
        None when this path cannot write the export."""
        planned = self.plan()
        if planned is None:
            return None
        return self._lines(*planned, counts)

    def _lines(
        self, query: str, params: list[Any], parts: list[_Part], reader: ColumnReader, counts: Callable[[int], None]
    ) -> Iterator[bytes]:
        connection = connections[self.queryset.db]
        converters = reader.cell_converters(self.raw)
        # Column 0 of a row is the media's id; the parts follow.
        slots = [(number, part) for number, part in enumerate(parts, start=1) if part.slot is not None]
        segments = [number for number, part in enumerate(parts, start=1) if part.slot is None]
        line = "%s" * len(parts)
        yield self.header().encode()
        with connection.chunked_cursor() as cursor:
            cursor.execute(query, params)
            while rows := cursor.fetchmany(self.chunk_size):
                columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
                for number, part in slots:
                    columns[number] = self._slot_cells(part, columns[number], reader, converters)
                lines = list(map(line.__mod__, zip(*columns[1:], strict=True)))
                # A NULL text: a value the database does not write; the row goes the row-by-row way.
                left = sorted({at for number in segments if None in columns[number] for at in _nulls(columns[number])})
                if left:
                    by_id = self._rows_by_rows([columns[0][at] for at in left])
                    for at in left:
                        lines[at] = by_id[columns[0][at]]
                counts(len(rows))
                yield "".join(lines).encode("utf-8", "replace")

    def _slot_cells(
        self, part: _Part, values: Sequence[Any], reader: ColumnReader, converters: list[Callable[[Any], Any]]
    ) -> list[Any]:
        """A slot's column as the texts between the quotes of its cells."""
        if part.slot == "value":
            cells = converters[part.source](values)
            if not _AS_IS.issuperset(map(type, cells)):
                return _escaped(cells)
            return list(map(_EMPTY.get, cells, cells))
        column = part.column
        assert column is not None
        assert column.render is not None
        assert column.render_json is not None
        made, left = column.render_json(values)
        if left:
            render = column.render
            decoded = reader.decode(part.source, [values[at] for at in left])
            for at, cell in zip(left, csv_cells([render(value) for value in decoded], raw=self.raw), strict=True):
                made[at] = cell
        return _escaped(made)

    def _rows_by_rows(self, ids: list[Any]) -> dict[Any, str]:
        """The lines of these media as the row-by-row path writes them, by id."""
        lines: dict[Any, str] = {}
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
        for chunk in self.by_rows(self.queryset.filter(id__in=ids)):
            for row in zip(*chunk, strict=True):
                buffer.seek(0)
                buffer.truncate()
                writer.writerow(row)
                lines[row[0]] = buffer.getvalue()
        return lines
