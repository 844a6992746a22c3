"""Query rows read a chunk at a time and converted a column at a time.

``QuerySet.iterator()`` hands every value of every row to the fields' converters, one Python call per
value and per converter; on a media CSV of a million rows that costs more than the query and the CSV
writer together. Here the compiled query runs on the same (server-side, where the database has them)
cursor, each chunk of rows is turned into columns, and each column is converted with one function chosen
once: the fields' own converters composed, or a cheaper equivalent where the column's type makes one
exact (SQLite's datetimes read as their stored text, booleans stored as integers, datetimes the driver
already made).

The values that come out are what ``values_list`` gives, or, for ``csv_columns``, the cells the CSV
writer writes as they are, or, for ``text_columns``, what the driver gives before the fields' converters
(a JSON column's text), which ``decode`` turns into values.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connections, models
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast
from django.db.models.sql.constants import MULTI
from django.utils.dateparse import parse_datetime

from exports.writers import csv_cell, csv_cells

if TYPE_CHECKING:
    from exports.columns import MediaColumn

Column = Sequence[Any]
Convert = Callable[[Column], Column]

_NUMBER_FIELDS = (models.IntegerField, models.FloatField, models.AutoField, models.ForeignKey)
# Cell types the csv module writes as the CSV writer's csv_cell would.
_AS_IS = frozenset({type(None), int, float})
# SQLite keeps booleans as 0 and 1; PostgreSQL gives bools, which hash and compare as 0 and 1.
_BOOLEAN_CELLS: dict[Any, str | None] = {None: None, 0: "false", 1: "true"}

# A datetime as Django's SQLite backend stores it (``str()`` of the naive datetime in the connection's zone,
# which leaves out a zero fraction) and as SQLite's CURRENT_TIMESTAMP writes it, limited to dates that exist:
# February 29th, which exists only in some years, is left to the parser with everything else.
_STORED_DATETIME = (
    "(?!0000)[0-9]{4}-"
    "(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
    r" (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.(?!000000)[0-9]{6})?"
)
_ONE_STORED_DATETIME = re.compile(_STORED_DATETIME)
# A column of them joined by newlines, NULLs as empty lines, checked with one match.
_STORED_DATETIMES = re.compile(f"(?:{_STORED_DATETIME})?(?:\n(?:{_STORED_DATETIME})?)*")
# The line ends of such a column that close a text (after a digit), not an empty line; the pattern starts
# with the newline so that the search skips to newlines.
_NEWLINE_AFTER_DIGIT = re.compile(r"\n(?<=[0-9]\n)")


class ColumnReader:
    """A query's columns and, for each, how a column of raw database values becomes values or cells."""

    def __init__(self, queryset: QuerySet, fields: Sequence[str], *, chunk_size: int) -> None:
        self.queryset = queryset
        self.fields = tuple(fields)
        self.width = len(fields)
        self.chunk_size = chunk_size
        self._decoders: dict[int, Convert | None] = {}

    def chunks(
        self, *, csv_columns: Sequence[int] = (), text_columns: Sequence[int] = (), raw: bool = False
    ) -> Iterator[list[Column]]:
        """Lists of columns, a chunk of rows at a time: columns in ``csv_columns`` hold CSV cells
        (``raw`` as in ``writers.csv_cell``), those in ``text_columns`` the driver's values (``decode``
        makes them values), the others the values ``values_list`` gives."""
        using = self.queryset.db
        connection = connections[using]
        plan, read_as_text = self._plan(set(csv_columns), set(text_columns), raw)
        queryset = self.queryset.values_list(
            *(Cast(field, TextField()) if index in read_as_text else field for index, field in enumerate(self.fields))
        )
        compiler = queryset.query.get_compiler(using)
        chunked = not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
        results = compiler.execute_sql(MULTI, chunked_fetch=chunked, chunk_size=self.chunk_size)
        if compiler.col_count != self.width:
            raise ValueError("the query selects other columns than the fields asked for")
        for rows in results:
            if not rows:
                continue
            columns: list[Column] = list(zip(*rows, strict=True)) if len(rows) > 1 else [(v,) for v in rows[0]]
            yield [
                column if convert is None else convert(column) for column, convert in zip(columns, plan, strict=True)
            ]

    def _selected(self) -> tuple[list[Any], dict[int, tuple[list, Any]]]:
        """The query's selected expressions and the fields' converters of each."""
        compiler = self.queryset.values_list(*self.fields).query.get_compiler(self.queryset.db)
        compiler.setup_query()
        selected = [expression for expression, _, _ in compiler.select[: compiler.col_count]]
        if len(selected) != self.width:
            raise ValueError("the query selects other columns than the fields asked for")
        return selected, compiler.get_converters(selected)

    def plain_columns(self) -> set[int]:
        """The columns whose values the driver gives as they are (no converter, neither a datetime nor a
        boolean): their CSV cells are ``csv_cells`` of the values ``chunks`` gives when they are not asked for
        as cells."""
        selected, converters = self._selected()
        return {
            index
            for index, expression in enumerate(selected)
            if not converters.get(index, ([], None))[0]
            and not isinstance(getattr(expression, "output_field", None), models.DateTimeField | models.BooleanField)
        }

    def _plan(self, as_cells: set[int], as_text: set[int], raw: bool) -> tuple[list[Convert | None], set[int]]:
        """Each column's conversion, and the columns read as text (SQLite's datetimes made cells)."""
        connection = connections[self.queryset.db]
        selected, converters = self._selected()
        stored_suffix = _stored_datetime_suffix(connection)
        plan: list[Convert | None] = []
        read_as_text: set[int] = set()
        for index, expression in enumerate(selected):
            field_converters, _ = converters.get(index, ([], expression))
            output = getattr(expression, "output_field", None)
            self._decoders[index] = _composed(field_converters, expression, connection)
            if index in as_text:
                plan.append(None)
            elif (
                index in as_cells
                and isinstance(output, models.DateTimeField)
                and connection.vendor == "sqlite"
                and stored_suffix is not None
            ):
                # Read without the driver's parser: the stored text is turned into the cell directly.
                read_as_text.add(index)
                plan.append(_stored_datetime_cells(stored_suffix, field_converters, expression, connection, raw))
            else:
                plan.append(_column_converter(output, field_converters, expression, connection, index in as_cells, raw))
        return plan, read_as_text

    def cell_converters(self, raw: bool) -> list[Convert]:
        """For every column, what ``chunks`` makes of a column of its values when asked for CSV cells (a
        SQLite datetime's value given as its stored text), for writing a few values apart."""
        plan, _ = self._plan(set(range(self.width)), set(), raw)
        return [(lambda column: column) if convert is None else convert for convert in plan]

    def decode(self, index: int, column: Column) -> Column:
        """The values ``values_list`` gives for a column of ``text_columns`` (the fields' converters)."""
        convert = self._decoders[index]
        return column if convert is None else convert(column)


def _column_converter(
    output: Any, field_converters: list, expression: Any, connection: Any, cells: bool, raw: bool
) -> Convert | None:
    if cells:
        if isinstance(output, models.DateTimeField) and connection.vendor == "sqlite":
            return _sqlite_datetime_cells(connection, field_converters, expression, raw)
        if isinstance(output, models.DateTimeField) and not field_converters:
            return _datetime_cells(raw)
        if isinstance(output, models.BooleanField):
            return _boolean_cells(field_converters, expression, connection, raw)
        if isinstance(output, _NUMBER_FIELDS) and not field_converters:
            return _number_cells(raw)
    values = _composed(field_converters, expression, connection)
    if not cells:
        return values
    if values is None:
        return lambda column: csv_cells(column, raw=raw)
    return lambda column: csv_cells(values(column), raw=raw)


def _composed(field_converters: list, expression: Any, connection: Any) -> Convert | None:
    if not field_converters:
        return None
    if len(field_converters) == 1:
        only = field_converters[0]
        return lambda column: [only(value, expression, connection) for value in column]

    def convert(column: Column) -> Column:
        values = list(column)
        for converter in field_converters:
            values = [converter(value, expression, connection) for value in values]
        return values

    return convert


def _number_cells(raw: bool) -> Convert:
    def convert(column: Column) -> Column:
        # Numbers and NULLs are written as they are; anything else a column may hold goes the long way.
        return column if _AS_IS.issuperset(map(type, column)) else csv_cells(column, raw=raw)

    return convert


def _boolean_cells(field_converters: list, expression: Any, connection: Any, raw: bool) -> Convert:
    slow = _composed(field_converters, expression, connection)

    def convert(column: Column) -> Column:
        try:
            return [_BOOLEAN_CELLS[value] for value in column]
        except (KeyError, TypeError):
            return csv_cells(column if slow is None else slow(column), raw=raw)

    return convert


def _datetime_cells(raw: bool) -> Convert:
    """Datetimes the driver made (PostgreSQL's), written as ``csv_cell`` writes them: ISO text."""
    is_datetime = dt.datetime

    def convert(column: Column) -> Column:
        return [
            value.isoformat() if value.__class__ is is_datetime else None if value is None else csv_cell(value, raw=raw)
            for value in column
        ]

    return convert


def _sqlite_datetime_cells(connection: Any, field_converters: list, expression: Any, raw: bool) -> Convert:
    """SQLite's datetimes as the ISO text of the aware datetime Django would have made of them.

    The driver gives naive datetimes (Django registers its parser for the declared type), or text where
    the column's declaration is not seen; Django then parses text with ``datetime.fromisoformat`` and
    makes a naive result aware in the connection's time zone. That is done here without the calls
    around it; anything else goes through the field's converters.
    """
    one = _sqlite_datetime_cell(connection, field_converters, expression, raw)
    return lambda column: [one(value) for value in column]


def _sqlite_datetime_cell(connection: Any, field_converters: list, expression: Any, raw: bool) -> Callable[[Any], Any]:
    zone = connection.timezone if settings.USE_TZ else None
    parse = dt.datetime.fromisoformat
    slow = _composed(field_converters, expression, connection)

    def one(value: Any) -> Any:
        if value is None:
            return None
        parsed = value if value.__class__ is dt.datetime else None
        if value.__class__ is str:
            try:
                parsed = parse(value)
            except ValueError:
                pass
        if parsed is None:
            converted = value if slow is None else slow([value])[0]
            return csv_cells([converted], raw=raw)[0]
        if zone is not None and parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone)
        return parsed.isoformat()

    return one


def _stored_datetime_suffix(connection: Any) -> str | None:
    """What the ISO text of a stored SQLite datetime ends with once made aware: nothing when time zones are
    off, ``+00:00`` in UTC, None for another zone (its offset depends on the date)."""
    if not settings.USE_TZ:
        return ""
    zone = connection.timezone
    if zone is dt.UTC or getattr(zone, "key", None) == "UTC":
        return "+00:00"
    return None


def _stored_datetime_cells(suffix: str, field_converters: list, expression: Any, connection: Any, raw: bool) -> Convert:
    """Cells of a SQLite datetime column read as its stored text (a cast in the query, so the driver does
    not parse it).

    Text in the form Django stores becomes the ISO text by moving characters: the ``T`` for the space and
    the zone's offset at the end, which is what parsing it, making it aware and writing it out gives. A
    chunk whose texts all have that form is checked and rewritten with a few calls on the joined column;
    any other text is parsed as the driver would have (``parse_datetime``), then converted as before.
    """
    one = _sqlite_datetime_cell(connection, field_converters, expression, raw)

    def by_parsing(text: str) -> Any:
        return one(parse_datetime(text))

    def cell(text: Any) -> Any:
        if not text:
            return None  # NULL, or empty text: the parser makes None of it
        if _ONE_STORED_DATETIME.fullmatch(text):
            return f"{text[:10]}T{text[11:]}{suffix}"
        return by_parsing(text)

    def convert(column: Column) -> Column:
        # NULL as an empty line, so the texts keep their rows; empty text, which the parser makes None of,
        # gives the same empty cell.
        joined = "\n".join(["" if text is None else text for text in column])
        if _STORED_DATETIMES.fullmatch(joined):
            cells = joined.replace(" ", "T")
            if suffix:
                # The zone's offset after each text.
                cells = _NEWLINE_AFTER_DIGIT.sub(suffix + "\n", cells)
                if cells[-1:].isdigit():
                    cells += suffix
            split = cells.split("\n")
            # A text holding a newline would have been taken for two.
            if len(split) == len(column):
                return split
        return [cell(text) for text in column]

    return convert


def json_rendered(column: MediaColumn, reader: ColumnReader, index: int, texts: Sequence[Any], raw: bool) -> list[Any]:
    """A column's cells from its source's stored JSON texts; the texts ``render_json`` leaves are decoded and
    go through ``render`` and ``csv_cells``."""
    assert column.render_json is not None
    assert column.render is not None
    made, left = column.render_json(texts)
    if left:
        render = column.render
        values = reader.decode(index, [texts[at] for at in left])
        for at, cell in zip(left, csv_cells([render(value) for value in values], raw=raw), strict=True):
            made[at] = cell
    return made
