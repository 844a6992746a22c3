"""Query rows read a chunk at a time and converted a column at a time.

``QuerySet.iterator()`` hands every value of every row to the fields' converters, one Python call per
value and per converter; on a media CSV of a million rows that costs more than the query and the CSV
writer together. Here the compiled query runs on the same (server-side, where the database has them)
cursor, each chunk of rows is turned into columns, and each column is converted with one function chosen
once: the fields' own converters composed, or a cheaper equivalent where the column's type makes one
exact (SQLite's datetime text, booleans stored as integers).

The values that come out are what ``values_list`` gives, or, for ``csv_columns``, the cells the CSV
writer writes as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connections, models
from django.db.models import QuerySet
from django.db.models.sql.constants import MULTI

from exports.writers import csv_cells

Column = Sequence[Any]
Convert = Callable[[Column], Column]

_NUMBER_FIELDS = (models.IntegerField, models.FloatField, models.AutoField, models.ForeignKey)
# Cell types the csv module writes as the CSV writer's csv_cell would.
_AS_IS = frozenset({type(None), int, float})
# SQLite keeps booleans as 0 and 1; PostgreSQL gives bools, which hash and compare as 0 and 1.
_BOOLEAN_CELLS: dict[Any, str | None] = {None: None, 0: "false", 1: "true"}


class ColumnReader:
    """A query's columns and, for each, how a column of raw database values becomes values or cells."""

    def __init__(self, queryset: QuerySet, fields: Sequence[str], *, chunk_size: int) -> None:
        self.queryset = queryset.values_list(*fields)
        self.width = len(fields)
        self.chunk_size = chunk_size

    def chunks(self, *, csv_columns: Sequence[int] = (), raw: bool = False) -> Iterator[list[Column]]:
        """Lists of columns, a chunk of rows at a time: columns in ``csv_columns`` hold CSV cells
        (``raw`` as in ``writers.csv_cell``), the others the values ``values_list`` gives."""
        query = self.queryset.query
        using = self.queryset.db
        connection = connections[using]
        compiler = query.get_compiler(using)
        chunked = not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
        results = compiler.execute_sql(MULTI, chunked_fetch=chunked, chunk_size=self.chunk_size)
        selected = [expression for expression, _, _ in compiler.select[: compiler.col_count]]
        if len(selected) != self.width:
            raise ValueError("the query selects other columns than the fields asked for")
        converters = compiler.get_converters(selected)
        as_cells = set(csv_columns)
        plan: list[Convert | None] = []
        for index, expression in enumerate(selected):
            field_converters, _ = converters.get(index, ([], expression))
            output = getattr(expression, "output_field", None)
            plan.append(_column_converter(output, field_converters, expression, connection, index in as_cells, raw))
        for rows in results:
            if not rows:
                continue
            columns: list[Column] = list(zip(*rows, strict=True)) if len(rows) > 1 else [(v,) for v in rows[0]]
            yield [
                column if convert is None else convert(column) for column, convert in zip(columns, plan, strict=True)
            ]


def _column_converter(
    output: Any, field_converters: list, expression: Any, connection: Any, cells: bool, raw: bool
) -> Convert | None:
    if cells:
        if isinstance(output, models.DateTimeField) and connection.vendor == "sqlite":
            return _sqlite_datetime_cells(connection, field_converters, expression, raw)
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


def _sqlite_datetime_cells(connection: Any, field_converters: list, expression: Any, raw: bool) -> Convert:
    """SQLite's datetimes as the ISO text of the aware datetime Django would have made of them.

    The driver gives naive datetimes (Django registers its parser for the declared type), or text where
    the column's declaration is not seen; Django then parses text with ``datetime.fromisoformat`` and
    makes a naive result aware in the connection's time zone. That is done here without the calls
    around it; anything else goes through the field's converters.
    """
    zone = connection.timezone if settings.USE_TZ else None
    parse = datetime.fromisoformat
    slow = _composed(field_converters, expression, connection)

    def one(value: Any) -> Any:
        if value is None:
            return None
        parsed = value if value.__class__ is datetime else None
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

    return lambda column: [one(value) for value in column]
