"""SQLite's share of an import's write: media rows into ``lands_media`` with and without its secondary indexes.

    .venv/bin/python bench/sqlite_media_insert.py [--rows 300000] [--var-dir /tmp/medianalyse-insertbench]

Migrates a scratch SQLite database once, then for each variant copies it and inserts ``--rows`` media-like rows
(ten media per page, a random SHA-256 each, statuses and formats of a crawl) in one transaction, 1,000 rows per
``executemany``, WAL and ``synchronous=NORMAL`` as medianalyse's settings open it. Variants: as the importer writes
(every index kept up to date), with a 128 MiB page cache, with the secondary indexes dropped in the transaction
and created again before the commit, and both. Prints each variant's CPU and wall time.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("indexes kept", "cache 128 MiB", "indexes rebuilt", "indexes rebuilt, cache 128 MiB")


def migrated(var_dir: Path) -> Path:
    template = var_dir / "template" / "medianalyse.sqlite3"
    if not template.exists():
        template.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "MEDIANALYSE_VAR_DIR": str(template.parent), "DJANGO_SECRET_KEY": "insert-bench"}
        env.pop("DATABASE_URL", None)
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, check=True)
    return template


def media_rows(columns: list[str], count: int) -> list[tuple[object, ...]]:
    rng = random.Random(20261204)
    rows = []
    for number in range(count):
        row = dict.fromkeys(columns)
        row.update(
            expression_id=number // 10 + 1,
            url=f"https://cdn.example/{number}.jpg",
            type="img",
            image_hash=f"{rng.getrandbits(256):064x}",
            analysis_status=rng.choice(["done", "done", "done", "failed", "pending"]),
            is_processed=1,
            attempts=0,
            format=rng.choice(["JPEG", "PNG", None]),
            dominant_colors='[{"rgb": [1, 2, 3], "hex": "#010203", "percentage": 41.5}]',
            legacy_digest=f"{number:016x}",
        )
        rows.append(tuple(row[column] for column in columns))
    return rows


def insert(database: Path, rows_count: int, variant: str) -> tuple[float, float]:
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=OFF")  # no pages exist in the scratch database
    columns = [row[1] for row in conn.execute("PRAGMA table_info(lands_media)") if row[1] != "id"]
    rows = media_rows(columns, rows_count)
    sql = f"INSERT INTO lands_media ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'lands_media' AND type = 'index' AND sql IS NOT NULL "
        "AND sql NOT LIKE 'CREATE UNIQUE%'"
    ).fetchall()
    if "cache" in variant:
        conn.execute("PRAGMA cache_size = -131072")
    rebuild = "rebuilt" in variant
    wall, cpu = time.perf_counter(), time.process_time()
    conn.execute("BEGIN IMMEDIATE")
    if rebuild:
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
    for start in range(0, len(rows), 1000):
        conn.executemany(sql, rows[start : start + 1000])
    if rebuild:
        for _, statement in indexes:
            conn.execute(statement)
    conn.execute("COMMIT")
    result = time.process_time() - cpu, time.perf_counter() - wall
    conn.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--var-dir", default="/tmp/medianalyse-insertbench")
    options = parser.parse_args()
    var_dir = Path(options.var_dir)
    template = migrated(var_dir)
    print(f"{options.rows:,} rows into lands_media, {time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.1f}")
    for variant in VARIANTS:
        database = var_dir / "scratch.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        shutil.copy(template, database)
        cpu, wall = insert(database, options.rows, variant)
        print(f"  {variant}: CPU {cpu:.1f} s, wall {wall:.1f} s", flush=True)


if __name__ == "__main__":
    main()
