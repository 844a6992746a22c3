"""A time limit on every database statement of a web request, so one runaway query cannot hold the server.

``StatementTimeoutMiddleware`` wraps each request's statements (Django's
``execute_wrapper``) while ``MEDIANALYSE_REQUEST_STATEMENT_TIMEOUT`` is above 0:

* PostgreSQL: ``SET statement_timeout`` on the request's connection before each
  statement (a transaction rolled back would undo a single SET), reset when the
  request ends; the server cancels a statement that runs longer.
* SQLite: a progress handler on the connection aborts a statement (its execution
  and the fetching of its rows) once it has run longer than the limit.

Workers, commands and streamed responses (exports) run outside requests' guards.
A statement stopped this way becomes a 503: a JSON body for the API (see
``medianalyse_site.api``) and a short page for the admin, both saying the query
took too long.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from django.conf import settings
from django.db import DatabaseError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import format_html

# SQLite calls the handler every this many virtual-machine instructions: often enough to stop within
# a few milliseconds of the limit, rarely enough to cost nothing measurable.
SQLITE_PROGRESS_STEPS = 10_000
POSTGRES_QUERY_CANCELED = "57014"


class QueryTooSlow(OperationalError):
    """A statement of a web request ran longer than the request limit and was stopped."""


def request_statement_timeout() -> float:
    return float(getattr(settings, "MEDIANALYSE_REQUEST_STATEMENT_TIMEOUT", 0) or 0)


def is_statement_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` is a statement stopped by the request limit (on either database)."""
    if isinstance(exc, QueryTooSlow):
        return True
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) == POSTGRES_QUERY_CANCELED:
        return True
    return "interrupted" in str(exc).lower() and type(cause).__module__ == "sqlite3"


def too_slow_message(limit: float | None = None) -> str:
    seconds = request_statement_timeout() if limit is None else limit
    return (
        f"The query took too long: the database stopped it after {seconds:g} s. "
        "Narrow the request (filters, a smaller page), or ask an administrator to raise "
        "MEDIANALYSE_REQUEST_STATEMENT_TIMEOUT."
    )


class _Guard:
    """The execute wrapper of one request: applies the limit to each statement, remembers what to undo."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.touched: dict[int, BaseDatabaseWrapper] = {}

    def __call__(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        connection: BaseDatabaseWrapper = context["connection"]
        self.touched[id(connection)] = connection
        if connection.vendor == "postgresql":
            self._limit_postgresql(connection.connection, sql)
        elif connection.vendor == "sqlite":
            deadline = time.monotonic() + self.limit
            connection.connection.set_progress_handler(lambda: time.monotonic() > deadline, SQLITE_PROGRESS_STEPS)
        try:
            return execute(sql, params, many, context)
        except OperationalError as exc:
            if is_statement_timeout(exc):
                raise QueryTooSlow(too_slow_message(self.limit)) from exc
            raise

    def _limit_postgresql(self, raw_connection: Any, sql: str) -> None:
        # A rollback must run even in an aborted transaction, which refuses any SET: leave it alone.
        if sql.lstrip()[:8].upper() == "ROLLBACK":
            return
        try:
            # A plain cursor of the raw connection: the statement's own may be a server-side (named) cursor,
            # which cannot run a SET, and the SET is no statement of the page's (query logs leave it out).
            with raw_connection.cursor() as cursor:
                cursor.execute(f"SET statement_timeout = {max(1, round(self.limit * 1000))}")
        except Exception:  # an aborted transaction: the statement itself will say so
            return

    def undo(self) -> None:
        for connection in self.touched.values():
            raw = connection.connection
            if raw is None:
                continue
            try:
                if connection.vendor == "postgresql":
                    with raw.cursor() as cursor:
                        cursor.execute("RESET statement_timeout")
                elif connection.vendor == "sqlite":
                    raw.set_progress_handler(None, 0)
            except Exception:  # an aborted transaction refuses the RESET; it ends with the request
                continue


class StatementTimeoutMiddleware:
    """Applies the request limit to every statement of the request and answers a stopped one with a 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = request_statement_timeout()
        if limit <= 0:
            return self.get_response(request)
        guard = _Guard(limit)
        with ExitStack() as stack:
            for connection in connections.all():
                stack.enter_context(connection.execute_wrapper(guard))
            try:
                return self.get_response(request)
            finally:
                guard.undo()

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DatabaseError) or not is_statement_timeout(exception):
            return None
        message = too_slow_message()
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=503)
        body = format_html(
            "<!doctype html><html><head><title>Query took too long</title></head><body>"
            "<h1>The query took too long</h1><p>{}</p>"
            "</body></html>",
            message,
        )
        return HttpResponse(body, status=503)
