"""What every list endpoint of the API shares: validated query parameters and pagination.

The lands API (lands/api.py) uses them too, so a bad filter is the same 400 everywhere.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination

from media_analysis.errors import InvalidParameters

MAX_PAGE_SIZE = 500


class CorpusPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


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
