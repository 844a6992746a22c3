"""A land of a million media: import, dry run, clusters and the media CSV, timed with each command's peak memory.

    .venv/bin/python bench/scale.py [--media 1000000] [--new 10000] [--var-dir /tmp/medianalyse-scalebench]
                                    [--databases sqlite,postgresql] [--no-reimport] [--only-import]

Generates a legacy MyWebIntelligence file shaped like a crawl of a few months (one land, ten media per page,
a page per ten media, 400 sites at a million media, three links per page, a few tags), whose media rows carry
the crawler's own analysis the way it wrote them (Python reprs of colours and EXIF, SHA-256, error texts): 80 %
analysed, 10 % failed, 10 % never analysed, one image in twenty shared by several pages. The file is kept in
the scratch directory and reused by later runs of the same size.

Then, on SQLite and on PostgreSQL (when DATABASE_URL is set; a scratch database ``<name>_scale`` beside it is
created and dropped), every step runs as its own ``manage.py`` process on a fresh database, and the table gives
its wall time, its CPU time and its peak resident memory (``wait4``'s rusage of that process; on a shared
machine the CPU time is the steadier figure):

1. ``import_mywi`` of the file, then again (re-importing changes nothing);
2. ``reprocess_media --dry-run``;
3. the land as medianalyse analysed it: the bench gives every analysed image a pHash and dHash (a tenth of
   them in planted groups of near-copies), then ``cluster_media --full`` twice (the second changes nothing);
4. ``export_land --type mediacsv`` (the file goes to the scratch directory);
5. a job of ``--new`` media: that many pending media get values and hashes, analysed now, then
   ``cluster_media`` (the incremental update).

``--only-import`` stops after step 1. Start with ``--media 100000``: a million rows take a while to generate
and import on a small machine.
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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]

MEDIA_PER_PAGE = 10
PAGES_PER_SITE = 250
LINKS_PER_PAGE = 3
LAND_NAME = "scale"
SEED = 20261203

# --- The legacy file -----------------------------------------------------------

# The current crawler's tables (the columns the importer reads, and a few it ignores).
LEGACY_SCHEMA = (
    'CREATE TABLE "land" ("id" INTEGER NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT NULL, '
    '"description" TEXT NOT NULL, "lang" VARCHAR(100) NOT NULL, "fullhtml" INTEGER NOT NULL, '
    '"created_at" DATETIME NOT NULL)',
    'CREATE UNIQUE INDEX "land_name" ON "land" ("name")',
    'CREATE TABLE "domain" ("id" INTEGER NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT NULL, '
    '"http_status" VARCHAR(3), "title" TEXT, "description" TEXT, "keywords" TEXT, "created_at" DATETIME NOT NULL, '
    '"fetched_at" DATETIME)',
    'CREATE UNIQUE INDEX "domain_name" ON "domain" ("name")',
    'CREATE TABLE "expression" ("id" INTEGER NOT NULL PRIMARY KEY, "land_id" INTEGER NOT NULL, "url" TEXT NOT NULL, '
    '"domain_id" INTEGER NOT NULL, "http_status" VARCHAR(3), "lang" VARCHAR(100), "title" VARCHAR(255), '
    '"description" TEXT, "keywords" TEXT, "readable" TEXT, "original_url" TEXT, "html" TEXT, '
    '"created_at" DATETIME NOT NULL, "published_at" DATETIME, "fetched_at" DATETIME, "approved_at" DATETIME, '
    '"readable_at" DATETIME, "relevance" INTEGER, "depth" INTEGER)',
    'CREATE INDEX "expression_land_id" ON "expression" ("land_id")',
    'CREATE INDEX "expression_domain_id" ON "expression" ("domain_id")',
    'CREATE TABLE "expressionlink" ("source_id" INTEGER NOT NULL, "target_id" INTEGER NOT NULL, '
    'PRIMARY KEY ("source_id", "target_id"))',
    'CREATE TABLE "media" ("id" INTEGER NOT NULL PRIMARY KEY, "expression_id" INTEGER NOT NULL, "url" TEXT NOT NULL, '
    '"type" VARCHAR(30) NOT NULL, "width" INTEGER, "height" INTEGER, "file_size" INTEGER, "format" VARCHAR(10), '
    '"color_mode" VARCHAR(10), "dominant_colors" TEXT, "has_transparency" INTEGER, "aspect_ratio" REAL, '
    '"exif_data" TEXT, "image_hash" VARCHAR(64), "content_tags" TEXT, "nsfw_score" REAL, "analyzed_at" DATETIME, '
    '"analysis_error" TEXT, "websafe_colors" TEXT)',
    'CREATE INDEX "media_expression_id" ON "media" ("expression_id")',
    'CREATE TABLE "tag" ("id" INTEGER NOT NULL PRIMARY KEY, "land_id" INTEGER NOT NULL, "parent_id" INTEGER, '
    '"name" TEXT NOT NULL, "sorting" INTEGER NOT NULL, "color" VARCHAR(7) NOT NULL)',
    'CREATE TABLE "taggedcontent" ("id" INTEGER NOT NULL PRIMARY KEY, "tag_id" INTEGER NOT NULL, '
    '"expression_id" INTEGER NOT NULL, "text" TEXT NOT NULL, "from_char" INTEGER NOT NULL, '
    '"to_char" INTEGER NOT NULL)',
)

CRAWLED = "2026-03-01 12:34:56.123456"
ANALYSED = "2026-03-02 08:15:00.5"
# Values as the crawler wrote them: Python reprs, numpy scalars included.
COLOURS = (
    "[{{'rgb': (np.float64({r}.6), np.float64(180.2), np.float64(140.9)), 'percentage': np.float64(41.5)}}, "
    "{{'rgb': (12, 34, {b}), 'percentage': 58.5}}]"
)
WEBSAFE = "{'#cccc99': np.float64(41.5), '#003333': 58.5}"
EXIF = (
    "{'ImageWidth': 1024, 'ImageLength': 768, 'Make': b'Canon\\x00', 'Model': 'EOS 5D', "
    "'XResolution': IFDRational(72, 1), 'DateTime': '2025:07:14 10:00:00'}"
)
ERRORS = ("HTTP 404", "cannot identify image file", "Read timed out", "HTTP 403")


def legacy_path(var_dir: Path, media: int) -> Path:
    return var_dir / f"legacy-{media}.sqlite"


def build_legacy(path: Path, media: int) -> dict[str, int]:
    """Write the legacy file in one transaction with executemany over generators (nothing held whole)."""
    rng = random.Random(SEED)
    pages = max(1, -(-media // MEDIA_PER_PAGE))
    sites = max(1, -(-pages // PAGES_PER_SITE))
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(partial)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    for statement in LEGACY_SCHEMA:
        conn.execute(statement)
    with conn:
        conn.execute("INSERT INTO land VALUES (1, ?, 'A crawl of a few months', 'fr,en', 0, ?)", (LAND_NAME, CRAWLED))
        conn.executemany(
            "INSERT INTO domain VALUES (?, ?, '200', ?, 'A site of the crawl', 'news,images', ?, ?)",
            ((i + 1, f"site{i}.scale.example", f"Site {i}", CRAWLED, CRAWLED) for i in range(sites)),
        )
        conn.executemany(
            "INSERT INTO expression (id, land_id, url, domain_id, http_status, lang, title, description, keywords, "
            "readable, created_at, fetched_at, relevance, depth) VALUES (?, 1, ?, ?, '200', 'fr', ?, ?, 'news', ?, ?, "
            "?, ?, ?)",
            (
                (
                    p + 1,
                    f"https://site{p % sites}.scale.example/article/{p}",
                    p % sites + 1,
                    f"Article {p}",
                    "A page of the crawl with its images",
                    "Readable text of the page. " * 20,
                    CRAWLED,
                    CRAWLED,
                    rng.randint(0, 10),
                    min(p % 5, 3),
                )
                for p in range(pages)
            ),
        )
        conn.executemany(
            "INSERT OR IGNORE INTO expressionlink VALUES (?, ?)",
            ((p + 1, rng.randrange(pages) + 1) for p in range(pages) for _ in range(LINKS_PER_PAGE)),
        )
        conn.execute("INSERT INTO tag VALUES (1, 1, NULL, 'Topics', 1, '#336699')")
        conn.execute("INSERT INTO tag VALUES (2, 1, 1, 'Images', 2, '#993366')")
        conn.executemany(
            "INSERT INTO taggedcontent VALUES (?, 2, ?, 'Readable text', 0, 13)",
            ((n + 1, p + 1) for n, p in enumerate(range(0, pages, 50))),
        )
        conn.executemany(
            "INSERT INTO media VALUES (?, ?, ?, 'img', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)",
            _legacy_media(media, rng),
        )
    counts = {table: conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] for table in ("domain", "media")}
    counts["expression"] = pages
    counts["expressionlink"] = conn.execute("SELECT COUNT(*) FROM expressionlink").fetchone()[0]
    conn.close()
    partial.replace(path)
    return counts


def _legacy_media(media: int, rng: random.Random) -> Iterator[tuple]:
    for m in range(media):
        page = m // MEDIA_PER_PAGE
        # One image in twenty is a shared one (a logo, a banner): the same URL on many pages.
        shared = rng.random() < 0.05
        url = f"https://cdn.scale.example/shared/{m % 500}.png" if shared else f"https://cdn.scale.example/{m}.jpg"
        roll = rng.random()
        if roll < 0.8:
            width, height = 400 + m % 1200, 300 + m % 900
            yield (
                m + 1,
                page + 1,
                url,
                width,
                height,
                20_000 + m % 500_000,
                "PNG" if shared else "JPEG",
                "RGBA" if shared else "RGB",
                COLOURS.format(r=m % 200, b=m % 250),
                int(shared),
                round(width / height, 4),
                EXIF if m % 3 == 0 else None,
                f"{(m % 500) if shared else m:064x}",
                ANALYSED,
                None,
                WEBSAFE,
            )
        elif roll < 0.9:
            yield (m + 1, page + 1, url, None, None, None, None, None, None, None, None, None, None, ANALYSED,
                   ERRORS[m % len(ERRORS)], None)  # fmt: skip
        else:
            yield (m + 1, page + 1, url, None, None, None, None, None, None, None, None, None, None, None, None, None)


# --- Databases -----------------------------------------------------------------


@dataclass
class Target:
    """One database the steps run on: its name in the table and the environment of its commands."""

    name: str
    env: dict[str, str]
    database_url: str | None = None

    def connect(self):  # -> a DB-API connection
        if self.database_url is None:
            return sqlite3.connect(Path(self.env["MEDIANALYSE_VAR_DIR"]) / "medianalyse.sqlite3")
        import psycopg

        return psycopg.connect(self.database_url)

    @property
    def mark(self) -> str:
        return "?" if self.database_url is None else "%s"


def _base_env(var_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["MEDIANALYSE_VAR_DIR"] = str(var_dir)
    env["DJANGO_SETTINGS_MODULE"] = "medianalyse_site.settings"
    env.setdefault("DJANGO_SECRET_KEY", "scale-bench-scratch-database")  # nothing is signed
    env.pop("REDIS_URL", None)  # the commands here need no broker: nothing is enqueued
    return env


def sqlite_target(var_dir: Path) -> Target:
    scratch = var_dir / "sqlite"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    return Target("SQLite", _base_env(scratch))


def postgresql_target(var_dir: Path, url: str) -> Target:
    """A scratch database beside DATABASE_URL's, created afresh (the role needs CREATEDB)."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/") + "_scale"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    scratch_url = urlunsplit(parts._replace(path="/" + name))
    scratch = var_dir / "postgresql"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    env = _base_env(scratch)
    env["DATABASE_URL"] = scratch_url
    return Target("PostgreSQL", env, scratch_url)


def drop_postgresql(url: str) -> None:
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(parts.path.lstrip("/"))))


# --- Running and measuring -----------------------------------------------------


@dataclass
class Measure:
    step: str
    seconds: float
    cpu_seconds: float
    peak_mib: float
    output: str


def ready_legacy(var_dir: Path, media: int) -> Path:
    """The legacy file of ``media`` media in the scratch directory, written first if it is not there yet."""
    var_dir.mkdir(parents=True, exist_ok=True)
    legacy = legacy_path(var_dir, media)
    if not legacy.exists():
        started = time.perf_counter()
        counts = build_legacy(legacy, media)
        print(f"Legacy file {legacy} written in {time.perf_counter() - started:.1f} s: {counts}", flush=True)
    return legacy


def each_target(var_dir: Path, databases: str) -> Iterator[Target]:
    """The databases asked for (comma-separated names), SQLite first; PostgreSQL only with DATABASE_URL, and its
    scratch database dropped once the caller is done with it."""
    wanted = {name.strip() for name in databases.split(",")}
    if "sqlite" in wanted:
        yield sqlite_target(var_dir)
    url = os.environ.get("DATABASE_URL")
    if "postgresql" in wanted and url:
        target = postgresql_target(var_dir, url)
        try:
            yield target
        finally:
            assert target.database_url is not None
            drop_postgresql(target.database_url)


def run(target: Target, args: Sequence[str]) -> Measure:
    """``manage.py args`` as its own process: wall time, and that process's peak RSS from wait4."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=target.env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed on {target.name}:\n{output}")
    # ru_maxrss is in KiB on Linux.
    return Measure(" ".join(args), seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, output)


def land_id(target: Target) -> int:
    conn = target.connect()
    try:
        row = conn.cursor().execute(f"SELECT id FROM lands_land WHERE name = {target.mark}", (LAND_NAME,)).fetchone()
    finally:
        conn.close()
    assert row is not None, "the land was imported"
    return int(row[0])


def planted_hashes(count: int, rng: random.Random) -> Iterator[tuple[str, str]]:
    """pHash and dHash pairs: nine in ten unique, one in ten in groups of 2-6 near-copies of a base."""
    while count > 0:
        if rng.random() < 0.1 / 4:  # groups average four members
            base, dbase = rng.getrandbits(64), rng.getrandbits(64)
            for _ in range(min(count, rng.randint(2, 6))):
                phash = base ^ sum(1 << b for b in rng.sample(range(64), rng.randint(0, 5)))
                dhash = dbase ^ sum(1 << b for b in rng.sample(range(64), rng.randint(0, 8)))
                count -= 1
                yield f"{phash:016x}", f"{dhash:016x}"
        else:
            count -= 1
            yield f"{rng.getrandbits(64):016x}", f"{rng.getrandbits(64):016x}"


def give_hashes(target: Target, land: int, *, pending: int = 0) -> int:
    """What medianalyse's analysis adds: hashes on the analysed images (or on ``pending`` media just analysed).

    Written straight into the tables, in one transaction: this is the set-up of a step, not a step.
    """
    conn = target.connect()
    try:
        cursor = conn.cursor()
        mark = target.mark
        if pending:
            select = (
                "SELECT m.id FROM lands_media m JOIN lands_expression e ON e.id = m.expression_id "
                f"WHERE e.land_id = {mark} AND m.analysis_status = 'pending' ORDER BY m.id LIMIT {int(pending)}"
            )
        else:
            select = (
                "SELECT m.id FROM lands_media m JOIN lands_expression e ON e.id = m.expression_id "
                f"WHERE e.land_id = {mark} AND m.analysis_status = 'done' ORDER BY m.id"
            )
        ids = [row[0] for row in cursor.execute(select, (land,)).fetchall()]
        # Seeded by the first id too: two jobs of the same size get different hashes.
        rng = random.Random(SEED + pending + (ids[0] if ids else 0))
        now = "CURRENT_TIMESTAMP"
        statement = (
            f"UPDATE lands_media SET phash = {mark}, dhash = {mark}, ahash = {mark}, analysis_version = 2, "
            f"values_at = {now}"
        )
        if pending:
            statement += (
                f", analysis_status = 'done', is_processed = {'TRUE' if mark == '%s' else '1'}, "
                f"analyzed_at = {now}, width = 640, height = 480, file_size = 50000, format = 'JPEG', "
                "mime_type = 'image/jpeg', image_hash = lpad_id"
            )
        statement += f" WHERE id = {mark}"
        if pending:
            # A digest no legacy media has (theirs are small numbers in hexadecimal): new files, not copies.
            sha = "'ff' || printf('%062x', id)" if mark == "?" else "'ff' || lpad(to_hex(id), 62, '0')"
            statement = statement.replace("lpad_id", sha)
        rows = (
            (phash, dhash, phash, media_id)
            for media_id, (phash, dhash) in zip(ids, planted_hashes(len(ids), rng), strict=True)
        )
        cursor.executemany(statement, rows)
        conn.commit()
        if mark == "%s":
            cursor.execute("ANALYZE")
            conn.commit()
        return len(ids)
    finally:
        conn.close()


def steps(
    target: Target, legacy: Path, new: int, out_dir: Path, *, reimport: bool = True, only_import: bool = False
) -> list[Measure]:
    measures: list[Measure] = []

    def step(label: str, args: Sequence[str]) -> Measure:
        measure = run(target, args)
        measure.step = label
        measures.append(measure)
        print(
            f"  {target.name}: {label}: {measure.seconds:.1f} s, CPU {measure.cpu_seconds:.1f} s, "
            f"{measure.peak_mib:.0f} MiB",
            flush=True,
        )
        if args[0] == "cluster_media":
            print("".join(f"    {line}\n" for line in measure.output.splitlines() if line.strip()), end="", flush=True)
        return measure

    run(target, ["migrate", "--verbosity", "0"])
    step("import_mywi", ["import_mywi", str(legacy), "--no-progress"])
    if reimport:
        again = step("import_mywi again (changes nothing)", ["import_mywi", str(legacy), "--no-progress"])
        totals = [line for line in again.output.splitlines() if line.startswith("Total: ")]
        if not totals or not totals[0].startswith("Total: 0 created") or "(0 updated)" not in totals[0]:
            raise SystemExit(f"Importing again changed the land:\n{again.output}")
    if only_import:
        return measures
    land = land_id(target)
    step("reprocess_media --dry-run", ["reprocess_media", "--land-id", str(land), "--dry-run", "--no-progress"])
    hashed = give_hashes(target, land)
    print(f"  {target.name}: {hashed:,} analysed images given hashes", flush=True)
    step("cluster_media --full (first run)", ["cluster_media", "--land-id", str(land), "--full"])
    step("cluster_media --full (nothing changed)", ["cluster_media", "--land-id", str(land), "--full"])
    csv_path = out_dir / f"media-{target.name.lower()}.csv"
    step("export_land --type mediacsv", ["export_land", "--land-id", str(land), "--type", "mediacsv",
                                         "--output", str(csv_path)])  # fmt: skip
    csv_path.unlink(missing_ok=True)
    analysed = give_hashes(target, land, pending=new)
    step(f"cluster_media after a job of {analysed:,} new media", ["cluster_media", "--land-id", str(land)])
    return measures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=int, default=1_000_000, help="Media of the land (default 1,000,000)")
    parser.add_argument("--new", type=int, default=10_000, help="Media of the job before the incremental clustering")
    parser.add_argument("--var-dir", default="/tmp/medianalyse-scalebench", help="Scratch directory")
    parser.add_argument(
        "--databases",
        default="sqlite,postgresql",
        help="Comma-separated, among sqlite and postgresql (the latter only with DATABASE_URL)",
    )
    parser.add_argument("--no-reimport", action="store_true", help="Leave out the second import")
    parser.add_argument("--only-import", action="store_true", help="Only the import steps, none after them")
    options = parser.parse_args()
    var_dir = Path(options.var_dir)
    legacy = ready_legacy(var_dir, options.media)
    results: dict[str, list[Measure]] = {}
    for target in each_target(var_dir, options.databases):
        results[target.name] = steps(
            target, legacy, options.new, var_dir, reimport=not options.no_reimport, only_import=options.only_import
        )

    print(f"\n{options.media:,} media, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores\n")
    names = list(results)
    print("| step | " + " | ".join(f"{name} wall | {name} CPU | {name} peak RSS" for name in names) + " |")
    print("|---|" + "---:|---:|---:|" * len(names))
    labels = [measure.step for measure in next(iter(results.values()), [])]
    for index, label in enumerate(labels):
        cells = [
            f"{m.seconds:.1f} s | {m.cpu_seconds:.1f} s | {m.peak_mib:.0f} MiB"
            for m in (results[name][index] for name in names)
        ]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
