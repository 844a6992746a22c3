"""Builder of legacy MyWebIntelligence SQLite databases, as the crawler's peewee models create them.

Three variants of the schema are found in the wild:

- ``"old"``: the first crawler (no ``land.lang``, non-unique ``domain.name``,
  and the four-column ``media`` table: ``id, expression_id, url, type``);
- ``"partial"``: media analysis columns, but not yet ``content_tags``/``nsfw_score``;
- ``"full"``: the current crawler, every media analysis column.

Foreign keys are not enforced (peewee only enforces them when the crawler
turns the pragma on), so tests can build the messy rows real files contain:
duplicates, dangling ids, links across lands. Values are written as given:
pass the raw text the crawler left (``"2024-03-01 12:34:56.123456"``,
``"[{'rgb': (np.float64(12.0), ...), 'percentage': 40.0}]"``...).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

VARIANTS = ("old", "partial", "full")

_LAND = {
    "old": '"id" INTEGER NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT NULL, "description" TEXT NOT NULL, '
    '"created_at" DATETIME NOT NULL',
    "new": '"id" INTEGER NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT NULL, "description" TEXT NOT NULL, '
    '"lang" VARCHAR(100) NOT NULL, "fullhtml" INTEGER NOT NULL, "created_at" DATETIME NOT NULL',
}
_DOMAIN = (
    '"id" INTEGER NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT NULL, "http_status" VARCHAR(3), '
    '"title" TEXT, "description" TEXT, "keywords" TEXT, "created_at" DATETIME NOT NULL, "fetched_at" DATETIME'
)
_EXPRESSION_COMMON = (
    '"id" INTEGER NOT NULL PRIMARY KEY, "land_id" INTEGER NOT NULL, "url" TEXT NOT NULL, '
    '"domain_id" INTEGER NOT NULL, "http_status" VARCHAR(3), "lang" VARCHAR({lang}), "title" VARCHAR(255), '
    '"description" TEXT, "keywords" TEXT, "readable" TEXT, {html}"created_at" DATETIME NOT NULL, '
    '"published_at" DATETIME, "fetched_at" DATETIME, "approved_at" DATETIME, "readable_at" DATETIME, '
    '"relevance" INTEGER, "depth" INTEGER'
)
_EXPRESSION = {
    "old": _EXPRESSION_COMMON.format(lang=10, html=""),
    "new": _EXPRESSION_COMMON.format(lang=100, html='"original_url" TEXT, "html" TEXT, ')
    + ', "validllm" VARCHAR(3), "validmodel" VARCHAR(100), "seorank" TEXT, "fetch_method" VARCHAR(32)',
}
_MEDIA_BASE = (
    '"id" INTEGER NOT NULL PRIMARY KEY, "expression_id" INTEGER NOT NULL, "url" TEXT NOT NULL, '
    '"type" VARCHAR(30) NOT NULL'
)
_MEDIA_ANALYSIS = (
    '"width" INTEGER, "height" INTEGER, "file_size" INTEGER, "format" VARCHAR(10), "color_mode" VARCHAR(10), '
    '"dominant_colors" TEXT, "has_transparency" INTEGER, "aspect_ratio" REAL, "exif_data" TEXT, '
    '"image_hash" VARCHAR(64)'
)
_MEDIA_CONTENT = '"content_tags" TEXT, "nsfw_score" REAL'
_MEDIA_PROCESSING = '"analyzed_at" DATETIME, "analysis_error" TEXT, "websafe_colors" TEXT'
_MEDIA = {
    "old": _MEDIA_BASE,
    "partial": ", ".join((_MEDIA_BASE, _MEDIA_ANALYSIS, _MEDIA_PROCESSING)),
    "full": ", ".join((_MEDIA_BASE, _MEDIA_ANALYSIS, _MEDIA_CONTENT, _MEDIA_PROCESSING)),
}
_FK = 'FOREIGN KEY ("{column}") REFERENCES "{table}" ("id") ON DELETE CASCADE'


def _schema(variant: str) -> list[str]:
    era = "old" if variant == "old" else "new"
    domain_index = "INDEX" if variant == "old" else "UNIQUE INDEX"
    return [
        f'CREATE TABLE "land" ({_LAND[era]})',
        'CREATE UNIQUE INDEX "land_name" ON "land" ("name")',
        f'CREATE TABLE "domain" ({_DOMAIN})',
        f'CREATE {domain_index} "domain_name" ON "domain" ("name")',
        f'CREATE TABLE "expression" ({_EXPRESSION[era]}, {_FK.format(column="land_id", table="land")}, '
        'FOREIGN KEY ("domain_id") REFERENCES "domain" ("id"))',
        'CREATE INDEX "expression_land_id" ON "expression" ("land_id")',
        'CREATE INDEX "expression_domain_id" ON "expression" ("domain_id")',
        'CREATE TABLE "expressionlink" ("source_id" INTEGER NOT NULL, "target_id" INTEGER NOT NULL, '
        'PRIMARY KEY ("source_id", "target_id"), '
        f"{_FK.format(column='source_id', table='expression')}, {_FK.format(column='target_id', table='expression')})",
        'CREATE TABLE "word" ("id" INTEGER NOT NULL PRIMARY KEY, "term" VARCHAR(30) NOT NULL, '
        '"lemma" VARCHAR(30) NOT NULL)',
        'CREATE TABLE "landdictionary" ("land_id" INTEGER NOT NULL, "word_id" INTEGER NOT NULL, '
        'PRIMARY KEY ("land_id", "word_id"))',
        f'CREATE TABLE "media" ({_MEDIA[variant]}, {_FK.format(column="expression_id", table="expression")})',
        'CREATE INDEX "media_expression_id" ON "media" ("expression_id")',
        'CREATE TABLE "tag" ("id" INTEGER NOT NULL PRIMARY KEY, "land_id" INTEGER NOT NULL, "parent_id" INTEGER, '
        '"name" TEXT NOT NULL, "sorting" INTEGER NOT NULL, "color" VARCHAR(7) NOT NULL, '
        f"{_FK.format(column='land_id', table='land')}, {_FK.format(column='parent_id', table='tag')})",
        'CREATE TABLE "taggedcontent" ("id" INTEGER NOT NULL PRIMARY KEY, "tag_id" INTEGER NOT NULL, '
        '"expression_id" INTEGER NOT NULL, "text" TEXT NOT NULL, "from_char" INTEGER NOT NULL, '
        f'"to_char" INTEGER NOT NULL, {_FK.format(column="tag_id", table="tag")}, '
        f"{_FK.format(column='expression_id', table='expression')})",
    ]


DEFAULT_DATE = "2024-03-01 12:34:56.123456"


class LegacyDatabase:
    """An open legacy database being filled; use as a context manager or call ``close()``."""

    def __init__(self, path: str | Path, variant: str = "full") -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
        self.path = Path(path)
        self.variant = variant
        self.conn = sqlite3.connect(self.path)
        for statement in _schema(variant):
            self.conn.execute(statement)
        self.conn.commit()
        self._domains: dict[str, int] = {}

    def __enter__(self) -> LegacyDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.conn.commit()
        self.conn.close()

    def columns(self, table: str) -> list[str]:
        return [row[1] for row in self.conn.execute(f'PRAGMA table_info("{table}")')]

    def insert(self, table: str, **values: Any) -> int:
        known = set(self.columns(table))
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"{table} ({self.variant}) has no column {sorted(unknown)}")
        names = ", ".join(f'"{name}"' for name in values)
        marks = ", ".join("?" for _ in values)
        cursor = self.conn.execute(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', list(values.values()))
        assert cursor.lastrowid is not None  # set by every successful INSERT
        return cursor.lastrowid

    def insert_many(self, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Fast path for large databases: every row must have the same keys."""
        rows = list(rows)
        if not rows:
            return
        names = list(rows[0])
        columns = ", ".join(f'"{name}"' for name in names)
        marks = ", ".join("?" for _ in names)
        statement = f'INSERT INTO "{table}" ({columns}) VALUES ({marks})'
        self.conn.executemany(statement, ([row[name] for name in names] for row in rows))

    # Rows with the crawler's defaults -----------------------------------------

    def land(self, name: str, description: str = "", lang: str = "fr", **fields: Any) -> int:
        fields.setdefault("created_at", DEFAULT_DATE)
        if self.variant != "old":
            fields.setdefault("lang", lang)
            fields.setdefault("fullhtml", 0)
        return self.insert("land", name=name, description=description, **fields)

    def domain(self, name: str, **fields: Any) -> int:
        fields.setdefault("created_at", DEFAULT_DATE)
        domain_id = self.insert("domain", name=name, **fields)
        self._domains.setdefault(name, domain_id)
        return domain_id

    def expression(self, land_id: int, url: str, domain_id: int | None = None, **fields: Any) -> int:
        """A page; its domain is created from the URL's host when not given."""
        if domain_id is None:
            host = url.split("//", 1)[-1].split("/", 1)[0]
            domain_id = self._domains.get(host) or self.domain(host)
        fields.setdefault("created_at", DEFAULT_DATE)
        return self.insert("expression", land_id=land_id, url=url, domain_id=domain_id, **fields)

    def link(self, source_id: int, target_id: int) -> None:
        self.insert("expressionlink", source_id=source_id, target_id=target_id)

    def media(self, expression_id: int, url: str, type: str = "img", **fields: Any) -> int:
        return self.insert("media", expression_id=expression_id, url=url, type=type, **fields)

    def tag(
        self, land_id: int, name: str, parent_id: int | None = None, sorting: int = 0, color: str = "#ff0000"
    ) -> int:
        return self.insert("tag", land_id=land_id, parent_id=parent_id, name=name, sorting=sorting, color=color)

    def tagged_content(self, tag_id: int, expression_id: int, text: str, from_char: int, to_char: int) -> int:
        return self.insert(
            "taggedcontent", tag_id=tag_id, expression_id=expression_id, text=text, from_char=from_char, to_char=to_char
        )


def build_legacy_database(path: str | Path, variant: str = "full") -> LegacyDatabase:
    """An empty legacy database with the crawler's schema of that variant."""
    return LegacyDatabase(path, variant)


# Values as the crawler wrote them at various times.
REPR_COLOURS = (
    "[{'rgb': (np.float64(201.6), np.float64(180.2), np.float64(140.9)), 'percentage': np.float64(41.5)}, "
    "{'rgb': (12, 34, 56), 'percentage': 58.5}]"
)
JSON_COLOURS = '[{"rgb": [250, 250, 250], "percentage": 70.0}, {"rgb": [0, 102, 204], "percentage": 30.0}]'
REPR_WEBSAFE = "{'#cccc99': np.float64(41.5), '#003333': 58.5}"
REPR_EXIF = (
    "{'ImageWidth': 640, 'ImageLength': 480, 'Make': b'Canon\\x00', 'Model': 'EOS 5D', "
    "'XResolution': IFDRational(72, 1), 'DateTime': '2023:07:14 10:00:00'}"
)


def build_sample_database(
    path: str | Path,
    variant: str = "full",
    *,
    lands: int = 2,
    pages_per_land: int = 20,
    media_per_page: int = 3,
    seed: int = 7,
) -> dict[str, int]:
    """A realistic small crawl: linked pages on shared domains, tags, media half analysed.

    Returns the number of rows written per table. Deterministic for a seed.
    """
    rng = random.Random(seed)
    counts = dict.fromkeys(("land", "domain", "expression", "expressionlink", "media", "tag", "taggedcontent"), 0)
    with LegacyDatabase(path, variant) as db:
        hosts = [f"site{index}.example" for index in range(max(3, pages_per_land // 4))]
        for host in hosts:
            db.domain(host, http_status="200", title=f"Home of {host}", fetched_at=DEFAULT_DATE)
        counts["domain"] = len(hosts)
        for land_index in range(lands):
            land_id = db.land(f"sample-{land_index}", description=f"Sample land {land_index}", lang="fr,en")
            counts["land"] += 1
            pages = []
            for page_index in range(pages_per_land):
                host = hosts[rng.randrange(len(hosts))]
                pages.append(
                    db.expression(
                        land_id,
                        f"https://{host}/land{land_index}/page{page_index}",
                        http_status="200",
                        lang="fr",
                        title=f"Page {page_index}",
                        readable=f"Readable text of page {page_index}. " * 3,
                        fetched_at="2024-03-02 08:00:00",
                        relevance=rng.randint(0, 10),
                        depth=min(page_index, 3),
                    )
                )
            counts["expression"] += len(pages)
            pairs = {(rng.choice(pages), rng.choice(pages)) for _ in range(pages_per_land * 2)}
            for source, target in sorted(pairs):
                db.link(source, target)
            counts["expressionlink"] += len(pairs)
            root = db.tag(land_id, "Topics", sorting=1, color="#336699")
            child = db.tag(land_id, "Images", parent_id=root, sorting=2, color="#993366")
            counts["tag"] += 2
            for page in pages[:3]:
                db.tagged_content(child, page, "Readable text", 0, 13)
                counts["taggedcontent"] += 1
            for page in pages:
                for media_index in range(media_per_page):
                    url = f"https://cdn.example/land{land_index}/{page}-{media_index}.jpg"
                    fields: dict[str, Any] = {}
                    if variant != "old" and rng.random() < 0.5:
                        fields = {
                            "width": 640,
                            "height": 480,
                            "file_size": 48_213,
                            "format": "JPEG",
                            "color_mode": "RGB",
                            "has_transparency": 0,
                            "aspect_ratio": 1.33,
                            "dominant_colors": REPR_COLOURS if rng.random() < 0.5 else JSON_COLOURS,
                            "websafe_colors": REPR_WEBSAFE,
                            "exif_data": REPR_EXIF,
                            "image_hash": f"{rng.getrandbits(256):064x}",
                            "analyzed_at": "2024-03-03 09:15:00.5",
                        }
                    db.media(page, url, **fields)
                    counts["media"] += 1
    return counts
