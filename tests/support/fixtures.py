"""Pytest fixtures around ``LocalHTTPServer``.

Import them into a conftest.py or test module to use them::

    from tests.support.fixtures import http_server, http_server_factory  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.http_server import LocalHTTPServer


@pytest.fixture
def http_server_factory() -> Iterator[Callable[[], LocalHTTPServer]]:
    """Start as many servers as a test needs; all are stopped when it ends."""
    servers: list[LocalHTTPServer] = []

    def start() -> LocalHTTPServer:
        server = LocalHTTPServer().start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def http_server(http_server_factory) -> LocalHTTPServer:
    return http_server_factory()
