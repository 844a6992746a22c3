"""The admin's chrome: the product's name, its icon, "View site" to a real landing page, the research pages on
the admin's home; the crawl's fields read-only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import CORPUS_READER, make_land, make_staff

pytestmark = pytest.mark.django_db


def test_the_admin_wears_the_products_name_and_icon(admin_client):
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert "<title>Media analysis of web corpora | medianalyse</title>" in html
    assert '<div id="site-name"><a href="/admin/">medianalyse</a></div>' in html
    assert 'rel="icon" href="/static/medianalyse/favicon.svg"' in html
    assert "/static/medianalyse/site.css" in html
    assert "Django administration" not in html
    # Every admin page links the user's own API tokens beside "Change password".
    assert '<a href="/admin/medianalyse/tokens/" id="ma-tokens-link">API tokens</a>' in html


def test_view_site_leads_to_the_landing_page(admin_client, client):
    html = admin_client.get(reverse("admin:index")).content.decode()
    assert '<a href="/">View site</a>' in html
    landing = client.get("/")
    assert landing.status_code == 200
    page = landing.content.decode()
    for target in ("/admin/", "/api/docs/", "/api/redoc/", "/admin/medianalyse/tokens/", "/guides/analysis/"):
        assert f'href="{target}"' in page, target
    assert 'rel="icon"' in page


def test_the_favicon_is_found_where_browsers_look(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"] == "/static/medianalyse/favicon.svg"


def test_the_guides_are_served_as_text(client):
    response = client.get("/guides/exports/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert b"Gephi" in response.content
    assert client.get("/guides/secret_key/").status_code == 404


def test_the_admin_home_links_the_research_pages(client):
    land = make_land("Deltas")
    reader = make_staff("reader-staff", *CORPUS_READER)
    client.force_login(reader)
    html = client.get(reverse("admin:index")).content.decode()
    assert 'id="ma-research-pages"' in html
    assert f'href="{reverse("medianalyse:api-tokens")}"' in html
    assert f'href="{reverse("medianalyse:land-analysis", args=[land.pk])}"' in html
    assert f'href="{reverse("medianalyse_clusters:land-clusters", args=[land.pk])}"' in html


def test_the_admin_home_lists_no_land_to_whoever_may_not_read_lands(client):
    make_land("Hidden")
    client.force_login(make_staff("nobody"))
    html = client.get(reverse("admin:index")).content.decode()
    assert "Hidden" not in html
    assert f'href="{reverse("medianalyse:api-tokens")}"' in html


def test_a_lands_crawl_fields_are_read_only(admin_client):
    land = make_land("Estuaries", description="From the crawl")
    response = admin_client.get(reverse("admin:lands_land_change", args=[land.pk]))
    assert set(response.context["adminform"].form.fields) == set()
    assert "From the crawl" in response.content.decode()
    admin_client.post(reverse("admin:lands_land_change", args=[land.pk]), {"name": "Renamed", "description": "x"})
    land.refresh_from_db()
    assert (land.name, land.description) == ("Estuaries", "From the crawl")


def test_the_research_pages_breadcrumbs_go_through_lands(admin_client, client):
    from media_analysis.models import ImageCluster

    land = make_land("Deltas")
    cluster = ImageCluster.objects.create(land=land, key=1, size=0)
    lands_crumb = f'&rsaquo; <a href="{reverse("admin:lands_land_changelist")}">Lands</a>'
    pages = [
        reverse("medianalyse:land-analysis", args=[land.pk]),
        reverse("medianalyse:land-gallery", args=[land.pk]),
        f"{reverse('medianalyse:wall')}?land={land.pk}",
        reverse("medianalyse_clusters:land-clusters", args=[land.pk]),
        reverse("medianalyse_clusters:cluster-detail", args=[cluster.pk]),
    ]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert lands_crumb in response.content.decode(), url
