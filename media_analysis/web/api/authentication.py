"""The API's token authentication: ``Authorization: Token <key>``, the key looked up by its digest.

DRF's own TokenAuthentication reads keys stored in clear; ours are stored as SHA-256 digests
(media_analysis.models.ApiToken), so a leaked database gives no working key.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from media_analysis.models import ApiToken


class HashedTokenAuthentication(TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        token = ApiToken.find(key)
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        token.note_use()
        return token.user, token
