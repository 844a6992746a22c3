"""Import of legacy MyWebIntelligence databases (the crawler's peewee/SQLite files).

``import_legacy_database`` copies lands, their pages (expressions), domains,
links, tags, tagged content and media into our models. It is idempotent: rows
are identified by natural keys (a land by name, a domain by name, a page by
land and URL, a media by page and URL...), so a second run creates nothing and
only rewrites values that changed in the legacy file.

Each land is imported in its own transaction: a failure leaves no half land.
The legacy file is opened read-only and checked (SQLite, not damaged, the
crawler's tables and columns) before anything is written. Rows are read in
batches and written with bulk_create/bulk_update; legacy ids are mapped to
ours in dicts, so the number of queries depends on the number of batches, not
of rows.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from django.db import DatabaseError, models, transaction
from django.utils import timezone

from lands.errors import ImportFailed, UnreadableLegacyValue
from lands.importer import values as lv
from lands.models import Domain, Expression, ExpressionLink, Land, Media, Tag, TaggedContent

logger = logging.getLogger("medianalyse.importer")

BATCH_SIZE = 1000

TABLES = ("land", "domain", "expression", "expressionlink", "media", "tag", "taggedcontent")

# Without these a file is not a crawler database.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "land": ("id", "name"),
    "domain": ("id", "name"),
    "expression": ("id", "land_id", "url", "domain_id"),
    "expressionlink": ("source_id", "target_id"),
    "media": ("id", "expression_id", "url", "type"),
}
# Tables the first crawler versions did not have; required columns when present.
OPTIONAL_TABLES: dict[str, tuple[str, ...]] = {
    "tag": ("id", "land_id", "name"),
    "taggedcontent": ("id", "tag_id", "expression_id"),
}
# Every column read when present; an absent one is never used to update a row.
KNOWN_COLUMNS: dict[str, tuple[str, ...]] = {
    "land": ("id", "name", "description", "lang", "created_at"),
    "domain": ("id", "name", "http_status", "title", "description", "keywords", "created_at", "fetched_at"),
    "expression": (
        "id",
        "land_id",
        "url",
        "domain_id",
        "http_status",
        "lang",
        "title",
        "description",
        "keywords",
        "readable",
        "created_at",
        "published_at",
        "fetched_at",
        "approved_at",
        "readable_at",
        "relevance",
        "depth",
    ),
    "expressionlink": ("source_id", "target_id"),
    "media": (
        "id",
        "expression_id",
        "url",
        "type",
        "width",
        "height",
        "file_size",
        "format",
        "color_mode",
        "dominant_colors",
        "has_transparency",
        "aspect_ratio",
        "exif_data",
        "image_hash",
        "content_tags",
        "nsfw_score",
        "analyzed_at",
        "analysis_error",
        "websafe_colors",
    ),
    "tag": ("id", "land_id", "parent_id", "name", "sorting", "color"),
    "taggedcontent": ("id", "tag_id", "expression_id", "text", "from_char", "to_char"),
}

_SQLITE_HEADER = b"SQLite format 3\x00"
_BIGINT_MAX = 2**63 - 1


# --- Report ---------------------------------------------------------------------


@dataclass
class TableCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def present(self) -> int:
        """Rows that already existed (updated or not)."""
        return self.updated + self.unchanged

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())

    def add(self, other: TableCounts) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.skipped.update(other.skipped)

    def describe(self) -> str:
        text = f"{self.created} created, {self.present} already present ({self.updated} updated), "
        text += f"{self.skipped_total} skipped"
        if self.skipped:
            text += ": " + ", ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items()))
        return text


@dataclass
class LandReport:
    name: str
    land_id: int | None = None
    created: bool = False
    tables: dict[str, TableCounts] = field(default_factory=lambda: {table: TableCounts() for table in TABLES})
    warnings: Counter[str] = field(default_factory=Counter)


@dataclass
class ImportReport:
    path: str
    lands: list[LandReport] = field(default_factory=list)
    seconds: float = 0.0

    def totals(self) -> dict[str, TableCounts]:
        totals = {table: TableCounts() for table in TABLES}
        for land in self.lands:
            for table, counts in land.tables.items():
                totals[table].add(counts)
        return totals

    @property
    def created(self) -> int:
        return sum(counts.created for counts in self.totals().values())

    @property
    def updated(self) -> int:
        return sum(counts.updated for counts in self.totals().values())

    def summary_lines(self) -> list[str]:
        lines = [f"Imported {len(self.lands)} land(s) from {self.path} in {self.seconds:.1f} s"]
        for land in self.lands:
            state = "new" if land.created else "already present"
            lines.append(f"Land {land.name!r} ({state}, id {land.land_id}):")
            for table, counts in land.tables.items():
                lines.append(f"  {table:<14} {counts.describe()}")
            if land.warnings:
                warnings = ", ".join(f"{count} {what}" for what, count in sorted(land.warnings.items()))
                lines.append(f"  warnings: {warnings}")
        totals = self.totals()
        skipped = sum(counts.skipped_total for counts in totals.values())
        present = sum(counts.present for counts in totals.values())
        lines.append(
            f"Total: {self.created} created, {present} already present ({self.updated} updated), {skipped} skipped"
        )
        return lines


@dataclass(frozen=True)
class ProgressUpdate:
    """Rows of one land handled so far (every table counted), and the step being run."""

    land: str
    step: str
    done: int
    total: int


ProgressCallback = Callable[[ProgressUpdate], None]


# --- Opening and checking the legacy file ------------------------------------------


@dataclass(frozen=True)
class LegacySchema:
    columns: dict[str, frozenset[str]]

    def has(self, table: str, column: str | None = None) -> bool:
        if table not in self.columns:
            return False
        return column is None or column in self.columns[table]

    def select_list(self, table: str, alias: str) -> str:
        """Every known column of a table; absent ones read as NULL so rows all have the same keys."""
        parts = []
        for column in KNOWN_COLUMNS[table]:
            source = f'{alias}."{column}"' if self.has(table, column) else "NULL"
            parts.append(f'{source} AS "{column}"')
        return ", ".join(parts)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def open_legacy_database(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to a legacy file that SQLite reads without damage."""
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path}: no such file")
    if not path.is_file():
        raise ImportFailed(f"{path}: not a file")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise ImportFailed(f"{path}: cannot be read ({_one_line(exc.strerror or exc)})") from exc
    if header != _SQLITE_HEADER:
        raise ImportFailed(f"{path}: not an SQLite database")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
        # Legacy text columns sometimes hold invalid UTF-8; never fail on them.
        conn.text_factory = lambda raw: raw.decode("utf-8", errors="replace")
        conn.row_factory = sqlite3.Row
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as exc:
        raise ImportFailed(f"{path}: unreadable SQLite database ({_one_line(exc)})") from exc
    if verdict != "ok":
        conn.close()
        raise ImportFailed(f"{path}: damaged SQLite database ({_one_line(verdict)[:200]})")
    return conn


def inspect_legacy_schema(conn: sqlite3.Connection, path: str | Path = "") -> LegacySchema:
    """The crawler's tables and their columns, or ``ImportFailed`` if this is not a crawler database."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
    missing_tables = [table for table in REQUIRED_COLUMNS if table not in tables]
    if missing_tables:
        raise ImportFailed(f"{path}: not a MyWebIntelligence database (missing table(s): {', '.join(missing_tables)})")
    columns: dict[str, frozenset[str]] = {}
    wanted = {**REQUIRED_COLUMNS, **{table: cols for table, cols in OPTIONAL_TABLES.items() if table in tables}}
    problems = []
    for table, required in wanted.items():
        present = frozenset(row[1] for row in conn.execute(f'PRAGMA table_info("{table}")'))
        absent = [column for column in required if column not in present]
        if absent:
            problems.append(f"{table} lacks {', '.join(absent)}")
        columns[table] = present
    if problems:
        raise ImportFailed(f"{path}: not a MyWebIntelligence database ({'; '.join(problems)})")
    return LegacySchema(columns)


def list_legacy_lands(path: str | Path) -> list[str]:
    """Names of the lands a legacy file holds (for a command's help or a form's choices)."""
    conn = open_legacy_database(path)
    try:
        inspect_legacy_schema(conn, path)
        return [row["name"] for row in conn.execute('SELECT "name" FROM "land" ORDER BY "id"')]
    except sqlite3.Error as exc:
        raise ImportFailed(f"{path}: unreadable SQLite database ({_one_line(exc)})") from exc
    finally:
        conn.close()


# --- Import ------------------------------------------------------------------------


def import_legacy_database(
    path: str | Path,
    land_names: list[str] | None = None,
    progress: ProgressCallback | None = None,
    *,
    batch_size: int = BATCH_SIZE,
) -> ImportReport:
    """Import every land of a legacy file (or only ``land_names``) and report what changed.

    Raises ``ImportFailed`` (nothing written) when the file is missing, not
    SQLite, damaged or not a crawler database, or when a requested land is not
    in it. A failure while importing a land rolls that land back entirely and
    raises ``ImportFailed``; lands imported before it stay.
    """
    started = time.monotonic()
    conn = open_legacy_database(path)
    try:
        try:
            schema = inspect_legacy_schema(conn, path)
            lands = _select_lands(conn, path, land_names)
        except sqlite3.Error as exc:
            raise ImportFailed(f"{path}: unreadable SQLite database ({_one_line(exc)})") from exc
        report = ImportReport(path=str(path))
        for legacy_land in lands:
            name = lv.coerce_text(legacy_land["name"], _max_length(Land, "name")) or ""
            try:
                with transaction.atomic():
                    land_report = _import_land(conn, schema, legacy_land, name, progress, batch_size)
            except sqlite3.Error as exc:
                raise ImportFailed(
                    f"{path}: reading land {name!r} failed ({_one_line(exc)}); it was not imported"
                    f" ({len(report.lands)} land(s) before it were)"
                ) from exc
            except DatabaseError as exc:
                raise ImportFailed(
                    f"{path}: writing land {name!r} failed ({_one_line(exc)}); it was not imported"
                    f" ({len(report.lands)} land(s) before it were)"
                ) from exc
            report.lands.append(land_report)
        report.seconds = time.monotonic() - started
        logger.info(
            "Imported %d land(s) from %s: %d rows created, %d updated",
            len(report.lands),
            path,
            report.created,
            report.updated,
        )
        return report
    finally:
        conn.close()


def _select_lands(conn: sqlite3.Connection, path: str | Path, land_names: list[str] | None) -> list[sqlite3.Row]:
    rows = conn.execute('SELECT * FROM "land" ORDER BY "id"').fetchall()
    if not land_names:
        return rows
    by_name = {row["name"]: row for row in rows}
    unknown = [name for name in dict.fromkeys(land_names) if name not in by_name]
    if unknown:
        available = ", ".join(repr(name) for name in by_name) or "none"
        if len(available) > 300:
            available = available[:300] + "..."
        raise ImportFailed(
            f"{path}: no land named {', '.join(repr(name) for name in unknown)} (lands in the file: {available})"
        )
    return [by_name[name] for name in dict.fromkeys(land_names)]


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
    # Legacy id -> our id.
    expression_ids: dict[int, int] = field(default_factory=dict)
    tag_ids: dict[int, int] = field(default_factory=dict)

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


def _import_land(
    conn: sqlite3.Connection,
    schema: LegacySchema,
    legacy_land: sqlite3.Row,
    name: str,
    progress: ProgressCallback | None,
    batch_size: int,
) -> LandReport:
    report = LandReport(name=name)
    legacy_land_id = legacy_land["id"]
    total = _count_rows(conn, schema, legacy_land_id)
    done = 0

    def notify(step: str, advance: int) -> None:
        nonlocal done
        done += advance
        if progress is not None:
            progress(ProgressUpdate(land=name, step=step, done=min(done, total), total=total))

    now = timezone.now()
    land_id = _import_land_row(schema, legacy_land, name, report, now)
    notify("land", 1)
    ctx = _Context(conn, schema, legacy_land_id, land_id, report, max(1, batch_size), now, notify)
    domain_ids, domain_of_page = _import_domains(ctx)
    _import_expressions(ctx, domain_ids, domain_of_page)
    _import_links(ctx)
    _import_media(ctx)
    if schema.has("tag"):
        _import_tags(ctx)
        if schema.has("taggedcontent"):
            _import_tagged_content(ctx)
    return report


def _count_rows(conn: sqlite3.Connection, schema: LegacySchema, land_id: int) -> int:
    """Rows the import of one land goes through, for the progress bar (the land row included)."""
    queries = [
        'SELECT COUNT(*) FROM "domain" WHERE "id" IN (SELECT "domain_id" FROM "expression" WHERE "land_id" = :land)',
        'SELECT COUNT(*) FROM "expression" WHERE "land_id" = :land',
        'SELECT COUNT(*) FROM "expressionlink" l JOIN "expression" s ON s."id" = l."source_id" '
        'WHERE s."land_id" = :land',
        'SELECT COUNT(*) FROM "media" m JOIN "expression" e ON e."id" = m."expression_id" WHERE e."land_id" = :land',
    ]
    if schema.has("tag"):
        queries.append('SELECT COUNT(*) FROM "tag" WHERE "land_id" = :land')
        if schema.has("taggedcontent"):
            queries.append(
                'SELECT COUNT(*) FROM "taggedcontent" c JOIN "tag" t ON t."id" = c."tag_id" WHERE t."land_id" = :land'
            )
    return 1 + sum(conn.execute(query, {"land": land_id}).fetchone()[0] for query in queries)


def _max_length(model: type[models.Model], name: str) -> int | None:
    return model._meta.get_field(name).max_length


K = TypeVar("K")
M = TypeVar("M", bound=models.Model)


def _upsert(
    model: type[M],
    rows: list[tuple[K, dict[str, Any], dict[str, Any]]],
    existing: dict[K, M],
    counts: TableCounts,
    batch_size: int,
) -> dict[K, int]:
    """Create the rows whose key is not in ``existing``; update the others where a value differs.

    Each row is ``(key, values, create_only)``: ``values`` are compared and
    written, ``create_only`` are only used for a new row (defaults such as
    ``created_at`` when the legacy value is missing). Returns key -> our id.
    """
    ids: dict[K, int] = {}
    to_create: list[M] = []
    create_keys: list[K] = []
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
            to_update.append(obj)
            changed_fields.update(changed)
            counts.updated += 1
        else:
            counts.unchanged += 1
        ids[key] = obj.pk
    if to_create:
        model.objects.bulk_create(to_create, batch_size=batch_size)
        counts.created += len(to_create)
        ids.update(zip(create_keys, (obj.pk for obj in to_create), strict=True))
    if to_update:
        model.objects.bulk_update(to_update, sorted(changed_fields), batch_size=batch_size)
    return ids


def _chunks(items: list[K], size: int) -> Iterator[list[K]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- Land ----------------------------------------------------------------------------


def _read(report: LandReport, label: str, parse: Callable[..., Any], value: Any, *args: Any) -> Any:
    """``parse(value)``, or None and a warning when the legacy value cannot be understood."""
    try:
        return parse(value, *args)
    except UnreadableLegacyValue:
        report.warnings[f"unreadable {label}"] += 1
        return None


def _import_land_row(schema: LegacySchema, row: sqlite3.Row, name: str, report: LandReport, now: datetime) -> int:
    values: dict[str, Any] = {"name": name}
    if schema.has("land", "description"):
        values["description"] = lv.coerce_text(row["description"]) or ""
    if schema.has("land", "lang"):
        values["lang"] = lv.coerce_text(row["lang"], _max_length(Land, "lang")) or ""
    created_at = None
    if schema.has("land", "created_at"):
        created_at = _read(report, "land.created_at", lv.parse_legacy_datetime, row["created_at"])
    if created_at is not None:
        values["created_at"] = created_at
    existing = {land.name: land for land in Land.objects.filter(name=name)}
    report.created = name not in existing
    ids = _upsert(Land, [(name, values, {"created_at": now})], existing, report.tables["land"], 1)
    report.land_id = ids[name]
    return ids[name]


# --- Domains -----------------------------------------------------------------------


def _domain_name(value: Any) -> str | None:
    text = lv.coerce_text(value)
    if text is None:
        return None
    text = text.strip()
    return text[: _max_length(Domain, "name")] or None


def _host_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    return _domain_name(host)


def _import_domains(ctx: _Context) -> tuple[dict[int, int], dict[int, int]]:
    """Domains the land's pages are on. Returns legacy domain id -> ours, and page -> ours for pages
    whose legacy domain is missing or nameless (their domain is derived from the page URL)."""
    counts = ctx.counts("domain")
    select = ctx.schema.select_list("domain", "d")
    legacy_rows = ctx.conn.execute(
        f'SELECT {select} FROM "domain" d WHERE d."id" IN '
        '(SELECT DISTINCT "domain_id" FROM "expression" WHERE "land_id" = ?) ORDER BY d."id"',
        (ctx.legacy_land_id,),
    ).fetchall()

    # Old crawler files may hold one name several times: keep the fetched one, else the oldest.
    best: dict[str, sqlite3.Row] = {}
    name_of_legacy: dict[int, str] = {}
    for row in legacy_rows:
        name = _domain_name(row["name"])
        if name is None:
            continue
        name_of_legacy[row["id"]] = name
        current = best.get(name)
        if current is None or (current["fetched_at"] is None and row["fetched_at"] is not None):
            if current is not None:
                counts.skipped["duplicate name"] += 1
            best[name] = row
        else:
            counts.skipped["duplicate name"] += 1

    # Pages whose domain row is missing or nameless.
    derived_of_page: dict[int, str] = {}
    orphan_pages = ctx.conn.execute(
        'SELECT e."id", e."url", e."domain_id" FROM "expression" e WHERE e."land_id" = ?', (ctx.legacy_land_id,)
    )
    for page_id, url, domain_id in orphan_pages:
        if domain_id in name_of_legacy:
            continue
        host = _host_of(lv.coerce_text(url))
        if host is not None:
            derived_of_page[page_id] = host
    derived_names = set(derived_of_page.values()) - set(best)
    if derived_of_page:
        ctx.report.warnings["domain derived from page URL"] += len(derived_of_page)

    rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for name, row in best.items():
        values: dict[str, Any] = {"name": name}
        for column in ("http_status", "title", "description", "keywords"):
            if ctx.schema.has("domain", column):
                values[column] = lv.coerce_text(row[column], _max_length(Domain, column))
        if ctx.schema.has("domain", "fetched_at"):
            values["fetched_at"] = ctx.read("domain.fetched_at", lv.parse_legacy_datetime, row["fetched_at"])
        created_at = ctx.read("domain.created_at", lv.parse_legacy_datetime, row["created_at"])
        if created_at is not None:
            values["created_at"] = created_at
        rows.append((name, values, {} if created_at else {"created_at": ctx.now}))
    # Known only from page URLs: no values that could overwrite an existing domain's.
    for name in sorted(derived_names):
        rows.append((name, {"name": name}, {"created_at": ctx.now}))

    ids: dict[str, int] = {}
    for chunk in _chunks(rows, ctx.batch_size):
        names = [key for key, _, _ in chunk]
        existing = {domain.name: domain for domain in Domain.objects.filter(name__in=names)}
        ids.update(_upsert(Domain, chunk, existing, counts, ctx.batch_size))
    ctx.notify("domains", len(legacy_rows))
    legacy_ids = {legacy_id: ids[name] for legacy_id, name in name_of_legacy.items()}
    page_ids = {page_id: ids[name] for page_id, name in derived_of_page.items()}
    return legacy_ids, page_ids


# --- Expressions -------------------------------------------------------------------

_EXPRESSION_TEXT = ("http_status", "lang", "title", "description", "keywords", "readable")
_EXPRESSION_DATES = ("published_at", "fetched_at", "approved_at", "readable_at")


def _page_url(value: Any) -> str | None:
    text = lv.coerce_text(value)
    if text is None:
        return None
    return text.strip() or None


def _preferred_ids(candidates: Iterable[tuple[Any, int, int]]) -> dict[int, int]:
    """For rows sharing a key, the one to keep: highest rank, then lowest id.

    ``candidates`` are ``(key, rank, legacy_id)``. Returns loser id -> winner id.
    """
    winners: dict[Any, tuple[int, int]] = {}
    losers: dict[int, Any] = {}
    for key, rank, legacy_id in candidates:
        current = winners.get(key)
        if current is None:
            winners[key] = (rank, legacy_id)
            continue
        if (rank, -legacy_id) > (current[0], -current[1]):
            winners[key] = (rank, legacy_id)
            losers[current[1]] = key
        else:
            losers[legacy_id] = key
    return {loser: winners[key][1] for loser, key in losers.items()}


def _import_expressions(ctx: _Context, domain_ids: dict[int, int], domain_of_page: dict[int, int]) -> None:
    counts = ctx.counts("expression")
    fetched = 'e."fetched_at" IS NOT NULL' if ctx.schema.has("expression", "fetched_at") else "0"
    pages = ctx.conn.execute(
        f'SELECT e."id", e."url", {fetched} FROM "expression" e WHERE e."land_id" = ?', (ctx.legacy_land_id,)
    )
    duplicates = _preferred_ids((_page_url(url), int(rank), page_id) for page_id, url, rank in pages)

    select = ctx.schema.select_list("expression", "e")
    fields = [name for name in _EXPRESSION_TEXT if ctx.schema.has("expression", name)]
    dates = [name for name in _EXPRESSION_DATES if ctx.schema.has("expression", name)]
    numbers = [name for name in ("relevance", "depth") if ctx.schema.has("expression", name)]
    for batch in ctx.rows(
        f'SELECT {select} FROM "expression" e WHERE e."land_id" = ? ORDER BY e."id"', [ctx.legacy_land_id]
    ):
        rows: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        legacy_of_url: dict[str, int] = {}
        for row in batch:
            url = _page_url(row["url"])
            if url is None:
                counts.skipped["empty url"] += 1
                continue
            if row["id"] in duplicates:
                counts.skipped["duplicate url"] += 1
                continue
            domain_id = domain_ids.get(row["domain_id"]) or domain_of_page.get(row["id"])
            if domain_id is None:
                counts.skipped["no domain"] += 1
                continue
            values: dict[str, Any] = {"land_id": ctx.land_id, "url": url, "domain_id": domain_id}
            for name in fields:
                values[name] = lv.coerce_text(row[name], _max_length(Expression, name))
            for name in dates:
                values[name] = ctx.read(f"expression.{name}", lv.parse_legacy_datetime, row[name])
            for name in numbers:
                values[name] = ctx.read(f"expression.{name}", lv.coerce_int, row[name])
            created_at = ctx.read("expression.created_at", lv.parse_legacy_datetime, row["created_at"])
            if created_at is not None:
                values["created_at"] = created_at
            rows.append((url, values, {} if created_at else {"created_at": ctx.now}))
            legacy_of_url[url] = row["id"]
        existing: dict[str, Expression] = {}
        if rows and not ctx.land_is_new:
            queryset = Expression.objects.filter(land_id=ctx.land_id, url__in=list(legacy_of_url)).order_by("-id")
            existing = {page.url: page for page in queryset}
        ids = _upsert(Expression, rows, existing, counts, ctx.batch_size)
        ctx.expression_ids.update((legacy_of_url[url], page_id) for url, page_id in ids.items())
        ctx.notify("pages", len(batch))
    for loser, winner in duplicates.items():
        if winner in ctx.expression_ids:
            ctx.expression_ids[loser] = ctx.expression_ids[winner]


# --- Links -------------------------------------------------------------------------


def _import_links(ctx: _Context) -> None:
    counts = ctx.counts("expressionlink")
    existing: set[tuple[int, int]] = set()
    if not ctx.land_is_new:
        existing = set(ExpressionLink.objects.filter(source__land_id=ctx.land_id).values_list("source_id", "target_id"))
    seen: set[tuple[int, int]] = set()
    sql = (
        'SELECT l."source_id", l."target_id", t."land_id" FROM "expressionlink" l '
        'JOIN "expression" s ON s."id" = l."source_id" '
        'LEFT JOIN "expression" t ON t."id" = l."target_id" WHERE s."land_id" = ?'
    )
    for batch in ctx.rows(sql, [ctx.legacy_land_id]):
        new_links = []
        for source_id, target_id, target_land in batch:
            if target_land is None:
                counts.skipped["target page missing"] += 1
                continue
            if target_land != ctx.legacy_land_id:
                counts.skipped["target in another land"] += 1
                continue
            source = ctx.expression_ids.get(source_id)
            target = ctx.expression_ids.get(target_id)
            if source is None or target is None:
                counts.skipped["page skipped"] += 1
                continue
            pair = (source, target)
            if pair in seen:
                counts.skipped["duplicate (merged pages)"] += 1
                continue
            seen.add(pair)
            if pair in existing:
                counts.unchanged += 1
                continue
            new_links.append(ExpressionLink(source_id=source, target_id=target))
        if new_links:
            ExpressionLink.objects.bulk_create(new_links, batch_size=ctx.batch_size)
            counts.created += len(new_links)
        ctx.notify("links", len(batch))


# --- Media ---------------------------------------------------------------------------

_MEDIA_INTEGERS = {"width": (0, 2**31 - 1), "height": (0, 2**31 - 1), "file_size": (0, _BIGINT_MAX)}
# The only fields a legacy row may still change on a media analysed here since.
_MEDIA_CRAWLER_FIELDS = ("expression_id", "url", "type")


def _media_analysis_values(ctx: _Context, row: sqlite3.Row, status_probe: Media) -> dict[str, Any]:
    schema = ctx.schema
    values: dict[str, Any] = {}
    for name, (low, high) in _MEDIA_INTEGERS.items():
        if schema.has("media", name):
            values[name] = ctx.read(f"media.{name}", lv.coerce_int, row[name])
            if values[name] is not None and not low <= values[name] <= high:
                ctx.report.warnings[f"unreadable media.{name}"] += 1
                values[name] = None
    for name in ("format", "color_mode"):
        if schema.has("media", name):
            values[name] = lv.coerce_text(row[name], _max_length(Media, name))
    if schema.has("media", "format"):
        values["mime_type"] = lv.mime_type_for_format(values["format"])
    if schema.has("media", "has_transparency"):
        values["has_transparency"] = ctx.read("media.has_transparency", lv.coerce_bool, row["has_transparency"])
    for name in ("aspect_ratio", "nsfw_score"):
        if schema.has("media", name):
            values[name] = ctx.read(f"media.{name}", lv.coerce_float, row[name])
    if schema.has("media", "dominant_colors"):
        values["dominant_colors"] = ctx.read(
            "media.dominant_colors", lv.normalise_dominant_colors, row["dominant_colors"]
        )
    if schema.has("media", "websafe_colors"):
        values["websafe_colors"] = ctx.read("media.websafe_colors", lv.normalise_websafe_colors, row["websafe_colors"])
    if schema.has("media", "exif_data"):
        exif = ctx.read("media.exif_data", lv.normalise_exif, row["exif_data"])
        make, model, taken = lv.exif_summary(exif)
        values.update(
            exif_data=exif,
            exif_make=lv.coerce_text(make, _max_length(Media, "exif_make")),
            exif_model=lv.coerce_text(model, _max_length(Media, "exif_model")),
            exif_datetime=lv.coerce_text(taken, _max_length(Media, "exif_datetime")),
        )
    if schema.has("media", "content_tags"):
        tags = ctx.read("media.content_tags", lv.parse_legacy_literal, row["content_tags"])
        values["content_tags"] = lv.to_json_safe(tags)
    if schema.has("media", "image_hash"):
        digest = lv.coerce_text(row["image_hash"], _max_length(Media, "image_hash"))
        values["image_hash"] = (digest.strip().lower() or None) if digest else None
    if schema.has("media", "analyzed_at"):
        analyzed_at = ctx.read("media.analyzed_at", lv.parse_legacy_datetime, row["analyzed_at"])
        error = lv.coerce_text(row["analysis_error"]) if schema.has("media", "analysis_error") else None
        status = lv.legacy_status(analyzed_at, error)
        # The model's own rule keeps is_processed in step with the status.
        status_probe.set_status(status)
        values.update(
            analyzed_at=analyzed_at,
            analysis_error=error,
            analysis_status=status_probe.analysis_status,
            is_processed=status_probe.is_processed,
            error_class=lv.classify_legacy_error(error) if status == "failed" else None,
        )
    return values


def _ours_is_newer(ours: Media, values: dict[str, Any]) -> bool:
    if ours.analyzed_at is None:
        return False
    legacy = values.get("analyzed_at")
    return legacy is None or ours.analyzed_at > legacy


def _import_media(ctx: _Context) -> None:
    counts = ctx.counts("media")
    schema = ctx.schema
    if schema.has("media", "analyzed_at"):
        # Keep the analysed copy of duplicated rows, a successful analysis first.
        error = "COALESCE(m.\"analysis_error\", '') = ''" if schema.has("media", "analysis_error") else "1"
        rank = f'CASE WHEN m."analyzed_at" IS NULL OR m."analyzed_at" = \'\' THEN 0 WHEN {error} THEN 2 ELSE 1 END'
    else:
        rank = "0"
    candidates = ctx.conn.execute(
        f'SELECT m."id", m."expression_id", m."url", {rank} FROM "media" m '
        'JOIN "expression" e ON e."id" = m."expression_id" WHERE e."land_id" = ?',
        (ctx.legacy_land_id,),
    )
    duplicates = _preferred_ids(
        ((ctx.expression_ids.get(page_id), _page_url(url)), int(rank_value), media_id)
        for media_id, page_id, url, rank_value in candidates
        if ctx.expression_ids.get(page_id) is not None and _page_url(url) is not None
    )

    status_probe = Media()
    select = schema.select_list("media", "m")
    sql = (
        f'SELECT {select} FROM "media" m JOIN "expression" e ON e."id" = m."expression_id" '
        'WHERE e."land_id" = ? ORDER BY m."expression_id", m."id"'
    )
    for batch in ctx.rows(sql, [ctx.legacy_land_id]):
        rows: list[tuple[tuple[int, str], dict[str, Any], dict[str, Any]]] = []
        for row in batch:
            page_id = ctx.expression_ids.get(row["expression_id"])
            if page_id is None:
                counts.skipped["page skipped"] += 1
                continue
            url = _page_url(row["url"])
            if url is None:
                counts.skipped["empty url"] += 1
                continue
            if row["id"] in duplicates:
                counts.skipped["duplicate url on the page"] += 1
                continue
            media_type = lv.legacy_media_type(row["type"])
            if media_type is None:
                counts.skipped["unknown type"] += 1
                continue
            values = {
                "expression_id": page_id,
                "url": url,
                "type": media_type,
                **_media_analysis_values(ctx, row, status_probe),
            }
            rows.append(((page_id, url), values, {}))
        existing: dict[tuple[int, str], Media] = {}
        if rows and not ctx.land_is_new:
            page_ids = {key[0] for key, _, _ in rows}
            existing = {
                (media.expression_id, media.url): media for media in Media.objects.filter(expression_id__in=page_ids)
            }
            for index, (key, values, create_only) in enumerate(rows):
                ours = existing.get(key)
                if ours is not None and _ours_is_newer(ours, values):
                    ctx.report.warnings["media analysed again since: our analysis kept"] += 1
                    rows[index] = (key, {name: values[name] for name in _MEDIA_CRAWLER_FIELDS}, create_only)
        _upsert(Media, rows, existing, counts, ctx.batch_size)
        ctx.notify("media", len(batch))


# --- Tags ----------------------------------------------------------------------------


def _import_tags(ctx: _Context) -> None:
    counts = ctx.counts("tag")
    select = ctx.schema.select_list("tag", "t")
    legacy = ctx.conn.execute(
        f'SELECT {select} FROM "tag" t WHERE t."land_id" = ? ORDER BY t."id"', (ctx.legacy_land_id,)
    ).fetchall()
    existing: dict[tuple[str, int | None], Tag] = {}
    if not ctx.land_is_new:
        for tag in Tag.objects.filter(land_id=ctx.land_id).order_by("-id"):
            existing[(tag.name, tag.parent_id)] = tag
    of_land = {row["id"] for row in legacy}
    pending = []
    for row in legacy:
        if row["parent_id"] is not None and row["parent_id"] not in of_land:
            counts.skipped["parent tag missing"] += 1
        else:
            pending.append(row)
    # Parents before children, one bulk write per level of the tree.
    while pending:
        level = [row for row in pending if row["parent_id"] is None or row["parent_id"] in ctx.tag_ids]
        if not level:
            break
        placed = {row["id"] for row in level}
        pending = [row for row in pending if row["id"] not in placed]
        rows = []
        legacy_of_key: dict[tuple[str, int | None], list[int]] = {}
        for row in level:
            name = lv.coerce_text(row["name"], _max_length(Tag, "name")) or ""
            parent = ctx.tag_ids.get(row["parent_id"]) if row["parent_id"] is not None else None
            key = (name, parent)
            if key in legacy_of_key:
                counts.skipped["duplicate name under the same parent"] += 1
                legacy_of_key[key].append(row["id"])
                continue
            legacy_of_key[key] = [row["id"]]
            values = {
                "land_id": ctx.land_id,
                "name": name,
                "parent_id": parent,
                "sorting": ctx.read("tag.sorting", lv.coerce_int, row["sorting"]) or 0,
                "color": lv.coerce_text(row["color"], _max_length(Tag, "color")) or "",
            }
            rows.append((key, values, {}))
        ids = _upsert(Tag, rows, existing, counts, ctx.batch_size)
        for key, legacy_ids in legacy_of_key.items():
            for legacy_id in legacy_ids:
                ctx.tag_ids[legacy_id] = ids[key]
    if pending:
        counts.skipped["parent tag cycle"] += len(pending)
    ctx.notify("tags", len(legacy))


def _import_tagged_content(ctx: _Context) -> None:
    counts = ctx.counts("taggedcontent")
    existing: dict[tuple[int, int, int, int], TaggedContent] = {}
    if not ctx.land_is_new:
        for content in TaggedContent.objects.filter(tag__land_id=ctx.land_id).order_by("-id"):
            existing[(content.tag_id, content.expression_id, content.from_char, content.to_char)] = content
    seen: set[tuple[int, int, int, int]] = set()
    select = ctx.schema.select_list("taggedcontent", "c")
    sql = (
        f'SELECT {select}, e."land_id" AS "page_land" FROM "taggedcontent" c JOIN "tag" t ON t."id" = c."tag_id" '
        'LEFT JOIN "expression" e ON e."id" = c."expression_id" WHERE t."land_id" = ? ORDER BY c."id"'
    )
    for batch in ctx.rows(sql, [ctx.legacy_land_id]):
        rows = []
        for row in batch:
            tag_id = ctx.tag_ids.get(row["tag_id"])
            if tag_id is None:
                counts.skipped["tag skipped"] += 1
                continue
            if row["page_land"] is None:
                counts.skipped["page missing"] += 1
                continue
            if row["page_land"] != ctx.legacy_land_id:
                counts.skipped["page in another land"] += 1
                continue
            page_id = ctx.expression_ids.get(row["expression_id"])
            if page_id is None:
                counts.skipped["page skipped"] += 1
                continue
            from_char = ctx.read("taggedcontent.from_char", lv.coerce_int, row["from_char"]) or 0
            to_char = ctx.read("taggedcontent.to_char", lv.coerce_int, row["to_char"]) or 0
            key = (tag_id, page_id, from_char, to_char)
            if key in seen:
                counts.skipped["duplicate"] += 1
                continue
            seen.add(key)
            values = {
                "tag_id": tag_id,
                "expression_id": page_id,
                "from_char": from_char,
                "to_char": to_char,
                "text": lv.coerce_text(row["text"]) or "",
            }
            rows.append((key, values, {}))
        _upsert(TaggedContent, rows, existing, counts, ctx.batch_size)
        ctx.notify("tagged content", len(batch))
