"""Files that cannot be imported, and failures in the middle of a land."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from lands.errors import ImportFailed
from lands.importer import import_legacy_database, run
from lands.models import Domain, Expression, ExpressionLink, Land, Media, Tag, TaggedContent
from tests.factories import make_expression, make_land, make_media
from tests.support.legacy_db import LegacyDatabase, build_sample_database

MODELS = (Land, Domain, Expression, ExpressionLink, Media, Tag, TaggedContent)


def row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS}


@pytest.fixture
def existing_rows(db) -> dict[str, int]:
    """Rows already in our database, which a failed import must leave as they are."""
    land = make_land("already-here")
    make_media(make_expression(land))
    return row_counts()


def run_command(*args: str) -> str:
    """The one-line error the command gives, after checking it is one line."""
    with pytest.raises(CommandError) as caught:
        call_command("import_mywi", *args, stdout=_Sink(), stderr=_Sink())
    message = str(caught.value)
    assert "\n" not in message
    assert len(message) < 600
    return message


class _Sink:
    def write(self, text: str) -> None:
        pass

    def flush(self) -> None:
        pass


def unrelated_sqlite(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
    conn.execute("INSERT INTO invoices (amount) VALUES (12.5)")
    conn.commit()
    conn.close()
    return path


def truncated_copy(tmp_path: Path) -> Path:
    path = tmp_path / "truncated.db"
    build_sample_database(path, lands=2, pages_per_land=60, media_per_page=4)
    size = path.stat().st_size
    assert size > 64 * 1024
    with path.open("r+b") as handle:
        handle.truncate(size * 6 // 10)
    return path


def test_missing_file(existing_rows, tmp_path):
    message = run_command(str(tmp_path / "nowhere.db"))

    assert message.endswith("nowhere.db: no such file")
    assert row_counts() == existing_rows


def test_directory_instead_of_file(existing_rows, tmp_path):
    assert "not a file" in run_command(str(tmp_path))
    assert row_counts() == existing_rows


def test_random_bytes(existing_rows, tmp_path):
    path = tmp_path / "random.db"
    path.write_bytes(random.Random(3).randbytes(8192))

    assert run_command(str(path)).endswith("random.db: not an SQLite database")
    assert row_counts() == existing_rows


def test_empty_file(existing_rows, tmp_path):
    path = tmp_path / "empty.db"
    path.write_bytes(b"")

    assert "not an SQLite database" in run_command(str(path))
    assert row_counts() == existing_rows


def test_sqlite_file_with_unrelated_tables(existing_rows, tmp_path):
    message = run_command(str(unrelated_sqlite(tmp_path / "invoices.db")))

    assert "not a MyWebIntelligence database" in message
    assert "missing table(s): land, domain, expression, expressionlink, media" in message
    assert row_counts() == existing_rows


def test_crawler_table_without_a_required_column(existing_rows, tmp_path):
    path = tmp_path / "odd.db"
    with LegacyDatabase(path, "old") as db:
        db.conn.execute('ALTER TABLE "media" RENAME COLUMN "url" TO "src"')

    message = run_command(str(path))

    assert "not a MyWebIntelligence database (media lacks url)" in message
    assert row_counts() == existing_rows


def test_truncated_database(existing_rows, tmp_path):
    message = run_command(str(truncated_copy(tmp_path)))

    assert "truncated.db:" in message
    assert "malformed" in message or "damaged" in message
    assert row_counts() == existing_rows


def test_unknown_land_name(existing_rows, messy_db):
    message = run_command(str(messy_db.path), "--land", "alpha", "--land", "nope")

    assert message.endswith("no land named 'nope' (lands in the file: 'alpha', 'beta', 'gamma')")
    # The known land named with it is not imported either.
    assert row_counts() == existing_rows


def test_legacy_file_is_left_unchanged(db, messy_db):
    before = messy_db.path.read_bytes()

    import_legacy_database(messy_db.path)

    assert messy_db.path.read_bytes() == before
    assert not Path(f"{messy_db.path}-journal").exists()


@pytest.mark.django_db(transaction=True)
def test_failure_in_the_middle_of_a_land_leaves_no_half_land(messy_db, monkeypatch):
    make_land("already-here")
    written = []
    original = run._import_media

    def media_then_crash(ctx):
        original(ctx)
        written.append(Media.objects.filter(expression__land_id=ctx.land_id).count())
        raise RuntimeError("disk full")

    monkeypatch.setattr(run, "_import_media", media_then_crash)

    with pytest.raises(RuntimeError, match="disk full"):
        import_legacy_database(messy_db.path, ["alpha"])

    # Pages and media had been written before the crash, and were rolled back.
    assert written == [6]
    assert list(Land.objects.values_list("name", flat=True)) == ["already-here"]
    assert row_counts() == {**dict.fromkeys(row_counts(), 0), "Land": 1}


@pytest.mark.django_db(transaction=True)
def test_failing_land_is_rolled_back_and_earlier_lands_stay(messy_db, monkeypatch):
    original = run._import_links

    def links_failing_for_beta(ctx):
        original(ctx)
        if ctx.report.name == "beta":
            raise sqlite3.DatabaseError("database disk image is malformed")

    monkeypatch.setattr(run, "_import_links", links_failing_for_beta)

    with pytest.raises(ImportFailed) as caught:
        import_legacy_database(messy_db.path, ["alpha", "beta"])

    message = str(caught.value)
    assert "reading land 'beta' failed (database disk image is malformed)" in message
    assert "1 land(s) before it were" in message
    assert list(Land.objects.values_list("name", flat=True)) == ["alpha"]
    assert not Expression.objects.filter(url="https://beta.example/").exists()
    assert not Domain.objects.filter(name="beta.example").exists()
    assert Media.objects.count() == 6


@pytest.mark.slow
def test_manage_py_exits_non_zero_with_one_line(tmp_path):
    env = {**os.environ, "MEDIANALYSE_VAR_DIR": str(tmp_path / "var")}
    result = subprocess.run(
        [sys.executable, "manage.py", "import_mywi", str(unrelated_sqlite(tmp_path / "invoices.db"))],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("CommandError: ")
    assert "not a MyWebIntelligence database" in lines[0]
