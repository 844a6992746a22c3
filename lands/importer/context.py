"""What every table step of a land's import shares: the land's context, lenient value reading, the bulk upsert."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from itertools import repeat
from typing import Any, TypeVar

from django.db import connection, models

from lands.errors import UnreadableLegacyValue
from lands.importer.ids import IdMap
from lands.importer.report import LandReport, TableCounts
from lands.importer.source import LegacySchema
from lands.importer.values import JsonText


@dataclass
class _Context:
    conn: sqlite3.Connection
    schema: LegacySchema
    legacy_land_id: int
    land_id: int
    report: LandReport
    batch_size: int
    now: datetime
    notify: Callable[[str, int], None]
    # Legacy ids of the lands this run imports after this one.
    lands_imported_later: frozenset[int] = frozenset()
    # Legacy id -> our id.
    expression_ids: IdMap = field(default_factory=IdMap)
    # Whether two of the land's legacy pages were merged into one of ours (their links may then repeat).
    pages_merged: bool = False
    tag_ids: dict[int, int] = field(default_factory=dict)
    # The legacy file, for a reading process of its own ("" when the connection is all there is).
    path: str = ""

    @property
    def land_is_new(self) -> bool:
        return self.report.created

    def counts(self, table: str) -> TableCounts:
        return self.report.tables[table]

    def read(self, label: str, parse: Callable[..., Any], value: Any, *args: Any) -> Any:
        return _read(self.report, label, parse, value, *args)

    def rows(self, sql: str, params: Iterable[Any] = ()) -> Iterator[list[sqlite3.Row]]:
        cursor = self.conn.execute(sql, tuple(params))
        while batch := cursor.fetchmany(self.batch_size):
            yield batch

    def tuples(self, sql: str, params: Iterable[Any] = ()) -> Iterator[list[tuple[Any, ...]]]:
        """``rows`` as plain tuples, for the large tables: no ``sqlite3.Row`` made per row.

        Text is decoded by the driver itself, without a Python call per value, as long as it is valid UTF-8; at
        the first value that is not, the query runs again with the connection's lenient decoding, from the row
        it had reached (``sql`` must give its rows in one order), and keeps it. Both decodings read valid UTF-8
        alike.
        """
        params = tuple(params)
        lenient = self.conn.text_factory
        cursor = self.conn.cursor()
        cursor.row_factory = None
        cursor.execute(sql, params)
        done = 0
        while True:
            # Set around each fetch only: the connection's other readers keep the lenient decoding.
            self.conn.text_factory = str
            try:
                batch = cursor.fetchmany(self.batch_size)
            except sqlite3.OperationalError as exc:
                if "decode" not in str(exc):
                    raise
                break
            finally:
                self.conn.text_factory = lenient
            if not batch:
                return
            done += len(batch)
            yield batch
        cursor.close()
        cursor = self.conn.cursor()
        cursor.row_factory = None
        cursor.execute(sql, params)
        while done and (skipped := cursor.fetchmany(min(done, self.batch_size))):
            done -= len(skipped)
        while batch := cursor.fetchmany(self.batch_size):
            yield batch


@cache
def _max_length(model: type[models.Model], name: str) -> int | None:
    model_field = model._meta.get_field(name)
    # Callers name concrete columns only; a reverse relation has no length.
    assert isinstance(model_field, models.Field), f"{model.__name__}.{name} is not a column"
    return model_field.max_length


K = TypeVar("K")
M = TypeVar("M", bound=models.Model)


def _upsert(
    model: type[M],
    rows: list[tuple[K, dict[str, Any], dict[str, Any]]],
    existing: dict[K, M],
    counts: TableCounts,
    batch_size: int,
    *,
    new_ids: bool = True,
    quiet: tuple[str, ...] = (),
    ids_of: Callable[[list[K]], dict[K, int]] | None = None,
) -> dict[K, int]:
    """Create the rows whose key is not in ``existing``; update the others where a value differs.

    Each row is ``(key, values, create_only)``: ``values`` are compared and
    written, ``create_only`` are only used for a new row (defaults such as
    ``created_at`` when the legacy value is missing). The ``quiet`` names of ``create_only`` are bookkeeping:
    written on an existing row too when they differ, without counting the row as updated. Returns key -> our id;
    without ``new_ids`` the created rows go through the database's bulk path
    (``insert_rows``) and only the existing ones are in the result. With ``ids_of`` (keys -> ids, read back
    from the database) the created rows take the bulk path too, and ``ids_of`` gives their ids.
    """
    ids: dict[K, int] = {}
    to_create: list[M] = []
    create_keys: list[K] = []
    if not new_ids or ids_of is not None:
        fresh_keys = [key for key, _, _ in rows if key not in existing]
        fresh = [{**create_only, **values} for key, values, create_only in rows if key not in existing]
        if fresh:
            insert_rows(model, fresh)
            counts.created += len(fresh)
            if ids_of is not None:
                ids.update(ids_of(fresh_keys))
        rows = [row for row in rows if row[0] in existing]
    to_update: list[M] = []
    changed_fields: set[str] = set()
    for key, values, create_only in rows:
        obj = existing.get(key)
        if obj is None:
            to_create.append(model(**{**create_only, **values}))
            create_keys.append(key)
            continue
        changed = [name for name, value in values.items() if getattr(obj, name) != value]
        if changed:
            for name in changed:
                setattr(obj, name, values[name])
            counts.updated += 1
        else:
            counts.unchanged += 1
        for name in quiet:
            if getattr(obj, name) != create_only[name]:
                setattr(obj, name, create_only[name])
                changed.append(name)
        if changed:
            to_update.append(obj)
            changed_fields.update(changed)
        ids[key] = obj.pk
    if to_create:
        model._default_manager.bulk_create(to_create, batch_size=batch_size)
        counts.created += len(to_create)
        ids.update(zip(create_keys, (obj.pk for obj in to_create), strict=True))
    if to_update:
        model._default_manager.bulk_update(to_update, sorted(changed_fields), batch_size=batch_size)
    return ids


# For each concrete column of a model but its id: attribute name, column, default, conversion (_column_adapters).
Adapters = list[tuple[str, str, Any, Callable[[Any], Any] | None]]


# Fields whose Python values the drivers take as they are.
_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.FloatField,
    models.BooleanField,
    models.ForeignKey,
)


def _column_adapters(model: type[models.Model]) -> Adapters:
    """For each concrete column but the id: attribute name, column, default, and the conversion to what the
    driver takes (None when the value goes as it is)."""
    ops = connection.ops
    adapters: Adapters = []
    for model_field in model._meta.concrete_fields:
        if model_field.primary_key:
            continue
        convert: Callable[[Any], Any] | None = None
        if isinstance(model_field, models.JSONField):
            encoder = model_field.encoder

            def convert(value: Any, encoder: Any = encoder) -> Any:
                # None is SQL NULL, as Django writes it; JSON null would be Value(None, JSONField()).
                if value is None:
                    return None
                if value.__class__ is JsonText:
                    # Already the encoder's text: SQLite stores it, PostgreSQL's COPY parses it as jsonb.
                    return str(value)
                return ops.adapt_json_value(value, encoder)

        elif isinstance(model_field, models.DateTimeField):
            convert = _datetime_adapter()
        elif not isinstance(model_field, _PLAIN_FIELDS):

            def convert(value: Any, model_field: models.Field = model_field) -> Any:
                return model_field.get_db_prep_save(value, connection)

        default = model_field.get_default() if model_field.has_default() else None
        adapters.append((model_field.attname, str(model_field.column), default, convert))
    return adapters


def _datetime_adapter() -> Callable[[Any], Any]:
    """The connection's datetime adapter; on SQLite, the same text without its calls for UTC datetimes.

    Django's SQLite adapter makes an aware datetime naive in the connection's time zone and writes
    ``str()`` of it; for a datetime already in UTC with that zone UTC, that is ``str()`` without the zone.
    """
    ops = connection.ops
    adapt = ops.adapt_datetimefield_value
    if connection.vendor != "sqlite" or connection.timezone != UTC:
        return adapt

    def adapt_utc(value: Any) -> Any:
        if value.__class__ is datetime and value.tzinfo is UTC:
            return str(value.replace(tzinfo=None))
        return adapt(value)

    return adapt_utc


def insert_rows(model: type[models.Model], rows: list[dict[str, Any]], adapters: Adapters | None = None) -> None:
    """INSERT new rows (attribute name -> value; fields left out take their default) in one bulk statement.

    ``bulk_create`` builds a model instance and prepares every value of every row through its field, which
    costs more than the database's write; here each column's conversion is chosen once. PostgreSQL gets the
    rows through ``COPY``, SQLite through one prepared ``INSERT`` run with ``executemany``. No ids come back.
    ``adapters`` are ``_column_adapters(model)``, for a caller that inserts many batches.
    """
    if adapters is None:
        adapters = _column_adapters(model)
    table = connection.ops.quote_name(model._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(column) for _, column, _, _ in adapters)

    attnames = [attname for attname, _, _, _ in adapters]
    defaults = [default for _, _, default, _ in adapters]
    converted = [(index, convert) for index, (_, _, _, convert) in enumerate(adapters) if convert is not None]

    def values() -> Iterator[tuple[Any, ...]]:
        for row in rows:
            # dict.get(name, default) for every column in one C loop; only the columns that need it converted.
            out = list(map(row.get, attnames, defaults))
            for index, convert in converted:
                value = out[index]
                if value is not None:
                    out[index] = convert(value)
            yield tuple(out)

    _write_rows(table, columns, len(adapters), values())


def insert_columns(model: type[models.Model], columns: dict[str, list[Any]], count: int, adapters: Adapters) -> None:
    """``insert_rows`` for rows given column by column (attribute name -> the ``count`` rows' values; columns left
    out take their default): each column is converted in one pass, and the rows are zipped from them, without a
    dict per row."""
    write_prepared_rows(model, adapters, column_rows(columns, count, adapters))


def write_prepared_rows(model: type[models.Model], adapters: Adapters, rows: Iterable[tuple[Any, ...]]) -> None:
    """INSERT rows already in the driver's terms (``column_rows``), in one bulk statement."""
    table = connection.ops.quote_name(model._meta.db_table)
    names = ", ".join(connection.ops.quote_name(column) for _, column, _, _ in adapters)
    _write_rows(table, names, len(adapters), rows)


def column_rows(columns: dict[str, list[Any]], count: int, adapters: Adapters) -> Iterator[tuple[Any, ...]]:
    """The rows ``insert_columns`` writes, in the driver's terms, in the order of ``adapters``: needs no
    connection, so another process may make them."""
    ready: list[Iterable[Any]] = []
    for attname, _, default, convert in adapters:
        values = columns.get(attname)
        if values is None:
            ready.append(repeat(default if convert is None or default is None else convert(default), count))
        elif convert is None:
            ready.append(values)
        else:
            ready.append([None if value is None else convert(value) for value in values])
    return zip(*ready, strict=True)


def _write_rows(table: str, columns: str, width: int, rows: Iterable[tuple[Any, ...]]) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for value_row in rows:
                    copy.write_row(value_row)
        else:
            marks = ", ".join(["%s"] * width)
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(rows))


def _chunks(items: list[K], size: int) -> Iterator[list[K]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _read(report: LandReport, label: str, parse: Callable[..., Any], value: Any, *args: Any) -> Any:
    """``parse(value)``, or None and a warning when the legacy value cannot be understood."""
    try:
        return parse(value, *args)
    except UnreadableLegacyValue:
        report.warnings[f"unreadable {label}"] += 1
        return None
