"""The time limit on a web request's statements: a runaway query becomes a 503, never a hung server.

Runs on the database of the suite: SQLite (progress handler) or PostgreSQL (statement_timeout).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import override_settings

from medianalyse_site.query_guard import QueryTooSlow, is_statement_timeout
from tests.scale.slow_urls import SLOW_SQL

LIMIT = 0.2

pytestmark = pytest.mark.django_db


@pytest.fixture
def slow_site():
    with override_settings(ROOT_URLCONF="tests.scale.slow_urls", MEDIANALYSE_REQUEST_STATEMENT_TIMEOUT=LIMIT):
        yield


def test_a_runaway_page_query_is_stopped_with_a_clear_503_page(client, slow_site):
    response = client.get("/admin/slow/")
    assert response.status_code == 503
    body = response.content.decode()
    assert "The query took too long" in body
    assert f"after {LIMIT:g} s" in body
    # The connection serves the next request as usual.
    fast = client.get("/admin/fast/")
    assert (fast.status_code, fast.content) == (200, b"counted 1")


def test_a_runaway_api_query_is_a_503_json_saying_so(client, slow_site):
    response = client.get("/api/slow/", HTTP_ACCEPT="application/json")
    assert response.status_code == 503
    assert "The query took too long" in response.json()["detail"]


def test_chunked_reads_work_under_the_limit(client, slow_site):
    from tests.factories import make_domain

    for name in ("a.stream.test", "b.stream.test", "c.stream.test"):
        make_domain(name)
    response = client.get("/admin/streamed/")
    assert (response.status_code, response.content) == (200, b"a.stream.test,b.stream.test,c.stream.test")


def test_no_limit_outside_requests(slow_site):
    # Workers and commands run their statements without the request limit: after a limited request,
    # the same connection runs a statement longer than the limit to its end.
    from django.test import Client

    assert Client().get("/admin/slow/").status_code == 503
    with connection.cursor() as cursor:
        cursor.execute(SLOW_SQL.replace("1000000000", "1000000"))
        assert cursor.fetchone()[0] == 1_000_000


def test_a_limit_of_zero_turns_the_guard_off(client):
    with override_settings(ROOT_URLCONF="tests.scale.slow_urls", MEDIANALYSE_REQUEST_STATEMENT_TIMEOUT=0):
        assert client.get("/admin/fast/").status_code == 200


def test_only_stopped_statements_count_as_timeouts():
    from django.db import OperationalError

    assert is_statement_timeout(QueryTooSlow("stopped"))
    assert not is_statement_timeout(OperationalError("database is locked"))
    assert not is_statement_timeout(ValueError("interrupted"))
