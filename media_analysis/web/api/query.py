"""What every list endpoint of the API shares: validated query parameters and pagination.

The lands API (lands/api.py) uses them too, so a bad filter is the same 400 everywhere.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination
from rest_framework.request import Request

from media_analysis.errors import InvalidParameters

MAX_PAGE_SIZE = 500


class CorpusPagination(PageNumberPagination):
    """Numbered pages with a total: for the short lists (lands, jobs)."""

    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class CorpusCursorPagination(CursorPagination):
    """Pages by id cursor for the lists that grow to a million rows (media, expressions).

    Each page is ``WHERE id > last seen ORDER BY id LIMIT size``: as fast at the
    end of the list as at its start, and no COUNT. The answer holds ``next``,
    ``previous`` (links carrying the filters and an opaque ``cursor``) and
    ``results``. A bad cursor, or a ``page`` number, is a 400 naming the parameter.
    """

    ordering = "id"
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        if "page" in request.query_params:
            raise InvalidParameters(
                "Invalid filter parameters (page: lists are paged by cursor; follow the next link)",
                {"page": ["Lists are paged by cursor: follow the 'next' link, or pass its 'cursor' parameter."]},
            )
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise InvalidParameters(
                "Invalid filter parameters (cursor: not a cursor this API gave)",
                {"cursor": ["Not a cursor this API gave: use the 'next' or 'previous' link of a page."]},
            ) from None


class QueryParamsSerializer(serializers.Serializer):
    """A list's query parameters; ``validated`` is the one way views read them."""

    @classmethod
    def validated(cls, query_params: Any) -> dict[str, Any]:
        """Validated values; raises ``InvalidParameters`` (a 400) naming each bad parameter.

        Empty values (``?depth=``) count as absent, as an HTML form submits them.
        """
        data = {key: value for key, value in query_params.items() if value != ""}
        serializer = cls(data=data)
        if not serializer.is_valid():
            errors = {field: [str(message) for message in messages] for field, messages in serializer.errors.items()}
            details = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
            raise InvalidParameters(f"Invalid filter parameters ({details})", errors)
        return dict(serializer.validated_data)
