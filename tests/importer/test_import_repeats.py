"""Pages sharing a URL and links repeated: found without holding every page's URL or every link pair."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from lands.importer import import_legacy_database
from lands.importer import pages as importer_pages
from lands.importer.ids import IdMap
from lands.models import Expression, ExpressionLink, Media
from tests.support.legacy_db import LegacyDatabase

pytestmark = pytest.mark.django_db


def build_repeats(path: Path) -> dict[str, int]:
    """Two lands whose pages share URLs (as ``strip`` reads them, tabs and newlines included), and an
    ``expressionlink`` table without its primary key, holding a link several times."""
    ids: dict[str, int] = {}
    with LegacyDatabase(path, "full") as db:
        db.conn.execute('DROP TABLE "expressionlink"')
        db.conn.execute('CREATE TABLE "expressionlink" ("source_id" INTEGER NOT NULL, "target_id" INTEGER NOT NULL)')
        alpha, beta = db.land("alpha"), db.land("beta")
        ids["p1"] = db.expression(alpha, "https://a.example/1")
        ids["p2"] = db.expression(alpha, " https://a.example/1\n", fetched_at="2024-03-02 08:00:00")  # kept
        ids["p3"] = db.expression(alpha, "https://a.example/1\t")
        ids["p4"] = db.expression(alpha, "https://a.example/4")
        ids["p5"] = db.expression(alpha, "https://a.example/5")
        ids["p6"] = db.expression(alpha, "   ")  # no URL: not imported
        ids["p7"] = db.expression(alpha, "https://a.example/7")
        ids["p8"] = db.expression(alpha, "https://a.example/7")
        ids["b1"] = db.expression(beta, "https://b.example/1")
        for source, target in [
            ("p4", "p5"),
            ("p4", "p5"),  # the file repeats it
            ("p4", "p5"),
            ("p4", "p1"),
            ("p4", "p2"),  # p1, p2 and p3 are one page
            ("p4", "p3"),
            ("p1", "p5"),
            ("p2", "p5"),
            ("p3", "p4"),
            ("p7", "p8"),  # one page linking to itself once merged
            ("p8", "p7"),
            ("p5", "p6"),
            ("b1", "p1"),  # beta's links to the merged page
            ("b1", "p3"),
            ("b1", "p3"),
            ("p5", "b1"),  # alpha's link to beta: made by beta's import
            ("p5", "b1"),
        ]:
            db.link(ids[source], ids[target])
        db.media(ids["p1"], "https://cdn.example/x.png")
        db.media(ids["p2"], "https://cdn.example/x.png")  # the same media of the merged page
        db.media(ids["p4"], "https://cdn.example/y.png")
        db.media(ids["p4"], "https://cdn.example/y.png")
    return ids


FIRST = {
    "alpha": {
        "expression": (4, 0, {"duplicate url": 3, "empty url": 1}),
        "expressionlink": (5, 0, {"duplicate (merged pages)": 6, "page skipped": 1}),
        "media": (2, 0, {"duplicate url on the page": 2}),
    },
    "beta": {
        "expression": (1, 0, {}),
        "expressionlink": (2, 0, {"duplicate (merged pages)": 3}),
        "media": (0, 0, {}),
    },
}
AGAIN = {
    "alpha": {
        "expression": (0, 4, {"duplicate url": 3, "empty url": 1}),
        "expressionlink": (0, 5, {"duplicate (merged pages)": 6, "page skipped": 1}),
        "media": (0, 2, {"duplicate url on the page": 2}),
    },
    "beta": {
        "expression": (0, 1, {}),
        "expressionlink": (0, 2, {"duplicate (merged pages)": 3}),
        "media": (0, 0, {}),
    },
}


def counts(report) -> dict[str, dict[str, tuple[int, int, dict[str, int]]]]:
    return {
        land.name: {
            table: (land.tables[table].created, land.tables[table].present, dict(land.tables[table].skipped))
            for table in ("expression", "expressionlink", "media")
        }
        for land in report.lands
    }


def links() -> set[tuple[str, str]]:
    return set(ExpressionLink.objects.values_list("source__url", "target__url"))


@pytest.mark.parametrize("collide", [False, True], ids=["hashed", "every-url-collides"])
def test_shared_urls_and_repeated_links_count_as_before(tmp_path, monkeypatch, collide):
    if collide:
        # Every URL's hash the same: the candidates are all the pages, and the groups still their exact URLs.
        monkeypatch.setattr(importer_pages, "_key_hash", lambda key: 7)
    path = tmp_path / "repeats.db"
    build_repeats(path)

    report = import_legacy_database(path)

    assert counts(report) == FIRST
    one, four, five, seven = (f"https://a.example/{n}" for n in (1, 4, 5, 7))
    beta = "https://b.example/1"
    assert sorted(Expression.objects.filter(land__name="alpha").values_list("url", flat=True)) == [
        one,
        four,
        five,
        seven,
    ]
    assert links() == {(four, five), (four, one), (one, five), (one, four), (seven, seven), (beta, one), (five, beta)}
    # Written in their order, with no id spent on a pair already there.
    link_ids = list(ExpressionLink.objects.order_by("id").values_list("id", flat=True))
    assert link_ids == list(range(link_ids[0], link_ids[0] + len(link_ids)))
    assert Media.objects.count() == 2

    again = import_legacy_database(path)

    assert counts(again) == AGAIN
    assert ExpressionLink.objects.count() == 7


def test_id_map_reads_as_a_dict():
    rng = random.Random(18)
    keys: list[object] = [*range(-5, 40), 2**62, -(2**63), 3.0, 4.5, "7", b"8", None, float("nan"), 2**70]
    for _ in range(20):
        ids, expected = IdMap(), {}
        for _ in range(rng.randint(0, 60)):
            key, value = rng.choice(keys), rng.randint(1, 25)
            ids[key] = value
            expected[key] = value
            if rng.random() < 0.2:
                probe = rng.choice(keys)
                assert (probe in ids) == (probe in expected)
        probes = [rng.choice(keys) for _ in range(50)]
        assert ids.get_many(probes) == [expected.get(probe) for probe in probes]
        ints = [rng.randint(-5, 45) for _ in range(50)]
        assert ids.get_many(ints) == [expected.get(probe) for probe in ints]
        assert [ids.get(probe) for probe in probes] == [expected.get(probe) for probe in probes]
        assert len(ids) == len(expected)
        owners: dict[int, list[object]] = {}
        for key, value in expected.items():
            owners.setdefault(value, []).append(key)
        assert ids.shared_keys() == {key for group in owners.values() if len(group) > 1 for key in group}
    with pytest.raises(KeyError):
        IdMap()[1]


def test_id_map_written_in_order_then_again():
    ids = IdMap()
    ids.update((key, key * 10) for key in range(1, 1001))
    assert ids.get_many([0, 1, 500, 1000, 1001]) == [None, 10, 5000, 10000, None]
    # Later writes, out of order and over earlier keys: the last write of a key wins.
    ids.update([(500, 7), (-3, 8), (1000, 9), (500, 6)])
    assert ids.get_many([-3, 499, 500, 1000]) == [8, 4990, 6, 9]
    assert len(ids) == 1001
    assert ids.shared_keys() == set()
    ids[2] = 10
    assert ids.shared_keys() == {1, 2}
