"""The API's documentation pages load nothing from outside this site, and what they load is served."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders

pytestmark = pytest.mark.django_db

ATTRIBUTE_URLS = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
ANY_ABSOLUTE_URL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}""", re.IGNORECASE)


def _page(client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_docs_pages_reference_no_external_url(client, admin_user, path):
    client.force_login(admin_user)
    html = _page(client, path)
    assert not ANY_ABSOLUTE_URL.findall(html), ANY_ABSOLUTE_URL.findall(html)
    assets = [url for url in ATTRIBUTE_URLS.findall(html) if url.startswith("/static/")]
    assert assets, "the page loads its scripts from this site's static files"
    for url in assets:
        assert finders.find(url.removeprefix("/static/")), f"{url} is not among the static files"


def test_swagger_ui_loads_the_bundle_and_its_styles(client, admin_user):
    client.force_login(admin_user)
    html = _page(client, "/api/docs/")
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css" in html


def test_redoc_loads_its_bundle(client, admin_user):
    client.force_login(admin_user)
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in _page(client, "/api/redoc/")


def test_redoc_may_load_from_this_site_only(client, admin_user):
    # Its bundle shows a logo from a CDN whatever its options: the browser is told not to ask.
    client.force_login(admin_user)
    policy = client.get("/api/redoc/")["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "img-src 'self' data:" in policy


def test_docs_need_a_login(client):
    assert client.get("/api/redoc/").status_code in (401, 403)
