"""Fixtures shared by the whole suite.

Services (Redis, PostgreSQL, Chromium) are real. Outside CI a test that needs
an absent service is skipped; with CI=true a missing service is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from django.test.utils import override_settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(available: bool, what: str) -> None:
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI but is not available")
    pytest.skip(f"{what} not available")


def redis_url() -> str:
    return os.environ.get("TEST_REDIS_URL") or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"


def redis_available(url: str) -> bool:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        return bool(client.ping())
    except Exception:
        return False


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing() -> Iterator[None]:
    # Many tests create users; the production hasher would dominate the run time. Set once for the
    # whole run (override_settings also clears Django's cached hasher list).
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture
def redis_server_url() -> str:
    url = redis_url()
    require_service(redis_available(url), f"Redis at {url}")
    return url


@pytest.fixture
def admin_user(db, django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.org", "admin-password")


@pytest.fixture
def plain_user(db, django_user_model):
    return django_user_model.objects.create_user("reader", "reader@example.org", "reader-password")


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def staff_api_client(api_client, admin_user):
    api_client.force_authenticate(admin_user)
    return api_client
