"""The ``import_mywi`` command: output, progress bar, land selection."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command

from lands.importer import ProgressUpdate, import_legacy_database
from lands.models import Land, Media

pytestmark = pytest.mark.django_db


class TerminalIO(io.StringIO):
    """A captured stream that says it is a terminal, as an interactive stderr does."""

    def isatty(self) -> bool:
        return True


def run(*args: str, stderr: io.StringIO | None = None) -> tuple[str, str]:
    stdout = io.StringIO()
    stderr = stderr if stderr is not None else io.StringIO()
    call_command("import_mywi", *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_output_ends_with_counts_per_table(messy_db):
    out, err = run(str(messy_db.path), "--land", "alpha")

    lines = out.splitlines()
    assert re.fullmatch(r"Imported 1 land\(s\) from .*mwi\.db in \d+\.\d s", lines[0])
    assert lines[1] == f"Land 'alpha' (new, id {Land.objects.get(name='alpha').pk}):"
    assert "  media          6 created, 0 already present (0 updated), 3 skipped: " in out
    assert "2 duplicate url on the page, 1 unknown type" in out
    assert (
        "  expressionlink 3 created, 0 already present (0 updated), 4 skipped: 1 duplicate (merged pages), "
        "1 source's land not imported, 1 target page missing, 1 target's land not imported" in out
    )
    assert "  warnings: 1 domain derived from page URL, " in out
    assert lines[-1] == "Total: 21 created, 0 already present (0 updated), 11 skipped"
    # Not a terminal: no progress bar.
    assert "%|" not in err


def test_rerun_reports_zero_created(messy_db):
    run(str(messy_db.path))
    out, _ = run(str(messy_db.path))

    assert "Total: 0 created, " in out.splitlines()[-1]
    assert out.count("(already present, id") == 3


def test_progress_bar_on_a_terminal(messy_db):
    _, err = run(str(messy_db.path), "--land", "alpha", "beta", stderr=TerminalIO())

    # One bar per land, run to completion, without colour codes.
    assert re.search(r"alpha: 100%\|.*\| \d+/\d+ ", err)
    assert re.search(r"beta: 100%\|.*\| \d+/\d+ ", err)
    assert "\x1b[31" not in err


def test_no_progress_option(messy_db):
    _, err = run(str(messy_db.path), "--no-progress", stderr=TerminalIO())

    assert "%|" not in err
    assert Land.objects.count() == 3


def test_repeated_and_grouped_land_options(messy_db):
    run(str(messy_db.path), "--land", "gamma", "--land", "beta")

    assert sorted(Land.objects.values_list("name", flat=True)) == ["beta", "gamma"]


def test_batch_size_option(messy_db):
    out, _ = run(str(messy_db.path), "--batch-size", "2", "--land", "alpha")

    assert "  media          6 created" in out
    assert Media.objects.count() == 6


def test_progress_updates_from_the_service(messy_db) -> None:
    updates: list[ProgressUpdate] = []

    import_legacy_database(messy_db.path, ["alpha"], progress=updates.append, batch_size=2)

    assert {update.land for update in updates} == {"alpha"}
    done = [update.done for update in updates]
    assert done == sorted(done)
    assert updates[-1].done == updates[-1].total
    # land, domains, pages (3 batches of 2), links, media, tags, tagged content
    assert [u.step for u in updates][:2] == ["land", "domains"]
    assert {"pages", "links", "media", "tags", "tagged content"} <= {u.step for u in updates}
    assert [u.step for u in updates].count("pages") == 3
