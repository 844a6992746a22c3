"""Opening and checking a legacy file: read-only, SQLite, not damaged, and the crawler's tables and columns."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from lands.errors import ImportFailed

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

# The longest text or blob value read from a legacy file. A page's readable text
# is far below it; a crafted value above it ends the import with a one-line error
# instead of filling memory.
MAX_VALUE_BYTES = 64 * 1024 * 1024
# How long a read waits for a crawler that is writing the same file.
BUSY_TIMEOUT_SECONDS = 30.0


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
    try:
        conn = _connect_read_only(path)
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as exc:
        raise ImportFailed(f"{path}: unreadable SQLite database ({_one_line(exc)})") from exc
    if verdict != "ok":
        conn.close()
        raise ImportFailed(f"{path}: damaged SQLite database ({_one_line(verdict)[:200]})")
    return conn


def _connect_read_only(path: Path) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS)
    # The file may be crafted: the hardening SQLite recommends for untrusted
    # databases (functions in its schema limited to harmless ones, cell sizes
    # checked, no memory-mapped reads of a damaged file, bounded values).
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    conn.execute("PRAGMA trusted_schema = OFF")
    conn.execute("PRAGMA cell_size_check = ON")
    conn.execute("PRAGMA mmap_size = 0")
    # Legacy text columns sometimes hold invalid UTF-8; never fail on them.
    conn.text_factory = lambda raw: raw.decode("utf-8", errors="replace")
    conn.row_factory = sqlite3.Row
    return conn


def reopen_legacy_database(path: str | Path) -> sqlite3.Connection:
    """Another connection to a file ``open_legacy_database`` has already checked, hardened alike (for a process
    of its own: a connection is never carried across a fork)."""
    return _connect_read_only(Path(path))


def inspect_legacy_schema(conn: sqlite3.Connection, path: str | Path = "") -> LegacySchema:
    """The crawler's tables and their columns, or ``ImportFailed`` if this is not a crawler database.

    Only plain tables are read. A view, a virtual table or a generated column
    computes its rows or values on every read, so a crafted file could make one
    read endless or huge (a recursive view never ends); the crawler creates none.
    """
    kinds = {
        row[0]: _kind(row[1], row[2])
        for row in conn.execute("SELECT name, type, sql FROM sqlite_master WHERE type IN ('table', 'view')")
    }
    missing_tables = [table for table in REQUIRED_COLUMNS if table not in kinds]
    if missing_tables:
        raise ImportFailed(f"{path}: not a MyWebIntelligence database (missing table(s): {', '.join(missing_tables)})")
    wanted = {**REQUIRED_COLUMNS, **{table: cols for table, cols in OPTIONAL_TABLES.items() if table in kinds}}
    not_plain = [f"{table} is {kinds[table]}" for table in wanted if kinds[table] != "table"]
    if not_plain:
        raise ImportFailed(f"{path}: not a MyWebIntelligence database ({'; '.join(not_plain)}, not a plain table)")
    columns: dict[str, frozenset[str]] = {}
    problems = []
    for table, required in wanted.items():
        # table_xinfo's last field is 2 or 3 for a generated column (0 for a stored one, 1 for a hidden one).
        info = conn.execute(f'PRAGMA table_xinfo("{table}")').fetchall()
        generated = [row[1] for row in info if row[-1] in (2, 3)]
        if generated:
            problems.append(f"{table} has generated column(s) {', '.join(generated)[:100]}")
        present = frozenset(row[1] for row in info if row[-1] == 0)
        absent = [column for column in required if column not in present]
        if absent:
            problems.append(f"{table} lacks {', '.join(absent)}")
        columns[table] = present
    if problems:
        raise ImportFailed(f"{path}: not a MyWebIntelligence database ({'; '.join(problems)})")
    return LegacySchema(columns)


_VIRTUAL_TABLE = re.compile(r"\s*CREATE\s+VIRTUAL\b", re.IGNORECASE)


def _kind(sqlite_type: str, sql: str | None) -> str:
    if sqlite_type == "view":
        return "a view"
    if _VIRTUAL_TABLE.match(sql or ""):
        return "a virtual table"
    return "table"


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
