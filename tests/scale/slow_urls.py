"""Views that run a deliberately slow statement, for the request time limit's tests."""

from __future__ import annotations

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lands.models import Domain

# Counts to a billion one row at a time: minutes on either database, unless stopped.
SLOW_SQL = (
    "WITH RECURSIVE counter(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM counter WHERE n < 1000000000) "
    "SELECT COUNT(*) FROM counter"
)
FAST_SQL = "SELECT 1"


def run(sql: str) -> int:
    # A savepoint: on PostgreSQL a cancelled statement aborts its transaction, here the test's own.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0]


def slow_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"counted {run(SLOW_SQL)}")


def fast_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"counted {run(FAST_SQL)}")


def streamed_page(request: HttpRequest) -> HttpResponse:
    # Chunked reads use a server-side cursor on PostgreSQL, which the guard's SET must not go through.
    domains = Domain.objects.filter(name__endswith=".stream.test").order_by("pk")
    names = [domain.name for domain in domains.iterator(chunk_size=2)]
    return HttpResponse(",".join(names))


class SlowApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"counted": run(SLOW_SQL)})


urlpatterns = [
    path("admin/slow/", slow_page),
    path("admin/fast/", fast_page),
    path("admin/streamed/", streamed_page),
    path("api/slow/", SlowApi.as_view()),
]
