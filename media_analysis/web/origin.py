"""Which origins may open the progress socket: this site's own, as CSRF decides it for forms."""

from __future__ import annotations

from typing import Any

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1").strip()
    return None


def same_origin(scope: dict[str, Any]) -> bool:
    """True when the handshake's Origin is this site's scheme, host and port, or a trusted origin.

    Channels' own validator only checks the Origin's host name against ALLOWED_HOSTS, so a
    page served by any other port of the same host (another program on the machine) could
    open the socket with the user's cookies. CSRF compares scheme, host and port; so does this.
    """
    origin = _header(scope, b"origin")
    host = _header(scope, b"host")
    if not origin or not host:
        return False
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    if origin.lower() == f"{scheme}://{host}".lower():
        return True
    return origin in settings.CSRF_TRUSTED_ORIGINS


class SameOriginValidator:
    """ASGI middleware that refuses a WebSocket handshake from any other origin."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not same_origin(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
