"""API tokens: a user's own page makes one (shown once), lists and revokes them; keys are kept as digests."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from media_analysis.models import ApiToken
from tests.factories import CORPUS_READER, make_staff

pytestmark = pytest.mark.django_db

KEY = re.compile(r'<code id="ma-token-key" class="ma-token-key">([^<]+)</code>')


def _api(key: str, path: str = "/api/lands/") -> int:
    return APIClient().get(path, HTTP_AUTHORIZATION=f"Token {key}").status_code


@pytest.fixture
def researcher():
    return make_staff("researcher", *CORPUS_READER)


def test_the_page_makes_a_token_shows_it_once_and_the_lines_that_use_it(client, researcher):
    client.force_login(researcher)
    page = reverse("medianalyse:api-tokens")
    assert "You have no API token." in client.get(page).content.decode()

    response = client.post(page, {"name": "notebook"})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    key = KEY.search(html).group(1)
    assert f'curl -H "Authorization: Token {key}" http://testserver/api/jobs/' in html
    assert f'session.headers["Authorization"] = "Token {key}"' in html
    assert _api(key) == 200

    # Stored as a digest: the key is nowhere in the database, and the page never shows it again.
    token = ApiToken.objects.get(user=researcher)
    assert token.name == "notebook"
    assert token.digest == ApiToken.digest_of(key)
    assert key.startswith(token.prefix)
    assert not ApiToken.objects.filter(digest=key).exists()
    again = client.get(page).content.decode()
    assert key not in again
    assert f"{token.prefix}&hellip;" in again
    assert "notebook" in again


def test_revoking_a_token_closes_the_api_to_it(client, researcher):
    token, key = ApiToken.issue(researcher, "script")
    assert _api(key) == 200
    client.force_login(researcher)
    response = client.post(reverse("medianalyse:api-token-revoke", args=[token.pk]), follow=True)
    assert "revoked" in response.content.decode()
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    assert _api(key) == 401


def test_a_user_cannot_revoke_someone_elses_token(client, researcher):
    other = make_staff("other")
    token, key = ApiToken.issue(other)
    client.force_login(researcher)
    assert client.post(reverse("medianalyse:api-token-revoke", args=[token.pk])).status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert key not in client.get(reverse("medianalyse:api-tokens")).content.decode()


def test_revoking_needs_a_post(client, researcher):
    token, _ = ApiToken.issue(researcher)
    client.force_login(researcher)
    assert client.get(reverse("medianalyse:api-token-revoke", args=[token.pk])).status_code == 405


def test_the_page_needs_a_staff_login(client, plain_user):
    page = reverse("medianalyse:api-tokens")
    assert client.get(page).status_code == 302
    client.force_login(plain_user)
    assert client.post(page).status_code == 302
    assert not ApiToken.objects.exists()


def test_a_token_acts_with_its_users_permissions_only(plain_user):
    _, key = ApiToken.issue(plain_user)
    assert _api(key) == 403


def test_an_inactive_users_token_is_refused(researcher):
    _, key = ApiToken.issue(researcher)
    researcher.is_active = False
    researcher.save(update_fields=["is_active"])
    assert _api(key) == 401


def test_a_tokens_use_is_recorded(researcher):
    token, key = ApiToken.issue(researcher)
    assert token.last_used_at is None
    assert _api(key) == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_keys_made_by_drf_authtoken_are_hashed_and_deleted(researcher):
    migration = importlib.import_module("media_analysis.migrations.0006_api_tokens_from_authtoken")
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp, user_id integer)")
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            ["0123456789abcdef0123456789abcdef01234567", "2026-01-01 00:00:00", researcher.pk],
        )
    # Not entered: the function only reads its connection (SQLite refuses an editor inside the test's transaction).
    migration.hash_authtoken_keys(apps, connection.schema_editor())
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
    assert _api("0123456789abcdef0123456789abcdef01234567") == 200


def test_the_api_root_lists_jobs_clusters_and_exports(staff_api_client):
    root = staff_api_client.get("/api/").json()
    assert root["jobs"] == "http://testserver/api/jobs/"
    assert root["clusters"] == "http://testserver/api/lands/{id}/clusters/"
    assert root["cluster"] == "http://testserver/api/clusters/{id}/"
    assert root["exports"] == "http://testserver/api/lands/{id}/export/?type={type}"
    assert {"lands", "expressions", "media", "docs"} <= set(root)


def test_the_browsable_api_has_a_login_link(client):
    response = client.get("/api/", HTTP_ACCEPT="text/html")
    assert response.status_code in (401, 403)
    assert "/api/auth/login/" in response.content.decode()
