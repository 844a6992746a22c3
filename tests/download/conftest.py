from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from media_analysis.engine.fetch import DownloadPolicy, build_session
from tests.support.fixtures import http_server, http_server_factory

__all__ = ["http_server", "http_server_factory"]

LOCAL = ("127.0.0.1",)


def local_policy(**overrides) -> DownloadPolicy:
    """Small timeouts and backoffs so failure paths stay fast; the test server on 127.0.0.1 is allowed."""
    values: dict[str, Any] = {
        "timeout": 2.0,
        "connect_timeout": 1.0,
        "max_retries": 2,
        "backoff_factor": 0.01,
        "allow_private": LOCAL,
        "deadline": 10.0,
    }
    values.update(overrides)
    return DownloadPolicy(**values)


@pytest.fixture
def policy() -> DownloadPolicy:
    return local_policy()


@pytest.fixture
def session(policy):
    session = build_session(policy, pool_size=8)
    yield session
    session.close()


@pytest.fixture(scope="session")
def china_jpeg() -> bytes:
    from sklearn.datasets import load_sample_image

    buffer = io.BytesIO()
    Image.fromarray(load_sample_image("china.jpg")).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def flower_png() -> bytes:
    from sklearn.datasets import load_sample_image

    buffer = io.BytesIO()
    Image.fromarray(load_sample_image("flower.jpg")).save(buffer, format="PNG")
    return buffer.getvalue()
