"""The admin changelists' paginator: it never counts a million rows to show one page.

The count stops at ``COUNT_CAP`` + 1 rows (``SELECT COUNT(*) FROM (... LIMIT n)``),
so a list of a million media costs what a list of ten thousand does; past the cap
the page says "more than 10,000". On PostgreSQL an unfiltered list past the cap
shows the planner's estimate of the table's rows instead (``pg_class.reltuples``,
kept by autovacuum), "about 1,000,000": one more lookup, no scan.
"""

from __future__ import annotations

from functools import cached_property

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet

COUNT_CAP = 10_000


class AtLeast(int):
    """A count that stopped at its cap (the cap + 1): shown as "more than" the cap."""

    def __str__(self) -> str:
        return f"more than {int(self) - 1:,}"


class Estimate(int):
    """The database's estimate of a table's rows."""

    def __str__(self) -> str:
        return f"about {int(self):,}"


def table_estimate(queryset: QuerySet) -> int | None:
    """PostgreSQL's estimate of the rows of ``queryset``'s table, None elsewhere or when it has none yet."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)", [queryset.model._meta.db_table]
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None


class EstimatedCountPaginator(Paginator):
    count_cap = COUNT_CAP

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        counted = queryset.order_by().values("pk")[: self.count_cap + 1].count()
        if counted <= self.count_cap:
            return counted
        if not queryset.query.where:
            estimate = table_estimate(queryset)
            if estimate is not None and estimate > self.count_cap:
                return Estimate(estimate)
        return AtLeast(counted)
