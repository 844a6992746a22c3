"""The import driver: a transaction per land, its table steps in order, and the progress it reports."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from django.db import DatabaseError, transaction
from django.utils import timezone

from lands.aggregates import refresh_land_aggregates
from lands.errors import ImportFailed
from lands.importer import values as lv
from lands.importer.context import _Context, _max_length
from lands.importer.land import _import_domains, _import_land_row
from lands.importer.media import _import_media
from lands.importer.pages import _import_expressions, _import_links
from lands.importer.report import ImportReport, LandReport, ProgressCallback, ProgressUpdate
from lands.importer.source import LegacySchema, _one_line, inspect_legacy_schema, open_legacy_database
from lands.importer.tags import _import_tagged_content, _import_tags
from lands.models import Land, LandAggregates

logger = logging.getLogger("medianalyse.importer")

BATCH_SIZE = 1000


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
        for index, legacy_land in enumerate(lands):
            name = lv.coerce_text(legacy_land["name"], _max_length(Land, "name")) or ""
            # Links between two lands of this run are made by the later one, once both ends exist.
            later = frozenset(row["id"] for row in lands[index + 1 :])
            try:
                with transaction.atomic():
                    land_report = _import_land(conn, schema, legacy_land, name, progress, batch_size, later, str(path))
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
            if land_report.land_id is not None and _needs_recount(land_report, land_report.land_id):
                # The lands list and the land's page read stored counts and charts, not live ones.
                refresh_land_aggregates(land_report.land_id)
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


def _needs_recount(report: LandReport, land_id: int) -> bool:
    """Whether the land's stored counts and figures must be computed again after its import.

    Not when the import changed nothing in the land and they exist: a land of a million media takes
    seconds to recount, which an import that finds the file unchanged need not pay.
    """
    changed = report.created or any(counts.created or counts.updated for counts in report.tables.values())
    return changed or not LandAggregates.objects.filter(land_id=land_id, figures__isnull=False).exists()


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


def _import_land(
    conn: sqlite3.Connection,
    schema: LegacySchema,
    legacy_land: sqlite3.Row,
    name: str,
    progress: ProgressCallback | None,
    batch_size: int,
    lands_imported_later: frozenset[int] = frozenset(),
    path: str = "",
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
    ctx = _Context(
        conn, schema, legacy_land_id, land_id, report, max(1, batch_size), now, notify, lands_imported_later, path=path
    )
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
        'SELECT COUNT(*) FROM "expressionlink" l JOIN "expression" t ON t."id" = l."target_id" '
        'JOIN "expression" s ON s."id" = l."source_id" WHERE t."land_id" = :land AND s."land_id" != :land',
        'SELECT COUNT(*) FROM "media" m JOIN "expression" e ON e."id" = m."expression_id" WHERE e."land_id" = :land',
    ]
    if schema.has("tag"):
        queries.append('SELECT COUNT(*) FROM "tag" WHERE "land_id" = :land')
        if schema.has("taggedcontent"):
            queries.append(
                'SELECT COUNT(*) FROM "taggedcontent" c JOIN "tag" t ON t."id" = c."tag_id" WHERE t."land_id" = :land'
            )
    return 1 + sum(conn.execute(query, {"land": land_id}).fetchone()[0] for query in queries)
