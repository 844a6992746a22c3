"""The land changelist's export action."""

from __future__ import annotations

import io
from urllib.parse import parse_qs, urlsplit

import networkx as nx
import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpResponseRedirect

from exports.admin_actions import export_land_action
from exports.services import ExportRequestSerializer
from lands.models import Land

pytestmark = pytest.mark.urls("tests.exports.urls")


def admin_request(rf, user, data=None):
    request = rf.post("/admin/lands/land/", data or {})
    request.user = user
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


@pytest.fixture
def land_admin():
    return admin.ModelAdmin(Land, admin.site)


def test_first_call_shows_the_form(rf, admin_user, corpus, land_admin):
    request = admin_request(rf, admin_user, {"action": "export_land_action", "_selected_action": [corpus.land.pk]})
    response = export_land_action(land_admin, request, Land.objects.filter(pk=corpus.land.pk))
    response.render()
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="apply"' in html
    assert f'name="_selected_action" value="{corpus.land.pk}"' in html
    assert 'value="mediagexf"' in html
    assert "Corpus Été/2024: test" in html


def test_apply_redirects_to_the_api_download(rf, client, admin_user, corpus, land_admin):
    data = {
        "apply": "Export",
        "type": "mediagexf",
        "minrel": "0",
        "depth": "1",
        "media_types": ["img"],
        "nodes": "domain",
    }
    response = export_land_action(
        land_admin, admin_request(rf, admin_user, data), Land.objects.filter(pk=corpus.land.pk)
    )
    assert isinstance(response, HttpResponseRedirect)
    target = urlsplit(response.url)
    assert target.path == f"/api/lands/{corpus.land.pk}/export/"
    assert parse_qs(target.query) == {
        "type": ["mediagexf"],
        "minrel": ["0"],
        "depth": ["1"],
        "media_types": ["img"],
        "nodes": ["domain"],
    }
    # The browser follows it with the admin session.
    client.force_login(admin_user)
    download = client.get(response.url)
    assert download.status_code == 200
    graph = nx.read_gexf(io.BytesIO(b"".join(download.streaming_content)), version="1.3")
    # Domains a and b, the shared image and the pending URL; the broken image failed and is left out.
    assert graph.number_of_nodes() == 4


def test_options_that_do_not_apply_are_not_forwarded(rf, admin_user, corpus, land_admin):
    data = {"apply": "Export", "type": "pagecsv", "minrel": "2", "media_types": ["video"], "nodes": "domain"}
    response = export_land_action(
        land_admin, admin_request(rf, admin_user, data), Land.objects.filter(pk=corpus.land.pk)
    )
    assert parse_qs(urlsplit(response.url).query) == {"type": ["pagecsv"], "minrel": ["2"]}


def test_invalid_form_is_shown_again(rf, admin_user, corpus, land_admin):
    data = {"apply": "Export", "type": "pagecsv", "minrel": "-1", "nodes": "page"}
    response = export_land_action(
        land_admin, admin_request(rf, admin_user, data), Land.objects.filter(pk=corpus.land.pk)
    )
    response.render()
    assert response.status_code == 200
    assert "greater than or equal to 0" in response.content.decode()


def test_exactly_one_land_must_be_selected(rf, admin_user, corpus, land_admin):
    request = admin_request(rf, admin_user)
    lands = Land.objects.filter(pk__in=[corpus.land.pk, corpus.other_land.pk])
    assert export_land_action(land_admin, request, lands) is None
    assert [str(message) for message in get_messages(request)] == ["Select exactly one land to export."]


def test_stale_values_is_forwarded_for_mediacsv_only(rf, admin_user, corpus, land_admin):
    def query(export_type: str) -> dict[str, list[str]]:
        data = {"apply": "Export", "type": export_type, "minrel": "1", "nodes": "page", "stale_values": "on"}
        response = export_land_action(
            land_admin, admin_request(rf, admin_user, data), Land.objects.filter(pk=corpus.land.pk)
        )
        assert isinstance(response, HttpResponseRedirect)
        return parse_qs(urlsplit(response.url).query)

    assert query("mediacsv") == {"type": ["mediacsv"], "minrel": ["1"], "stale_values": ["true"]}
    assert query("pagecsv") == {"type": ["pagecsv"], "minrel": ["1"]}


def test_the_form_offers_every_option_of_the_api_with_readable_labels(rf, admin_user, corpus, land_admin):
    request = admin_request(rf, admin_user, {"action": "export_land_action", "_selected_action": [corpus.land.pk]})
    response = export_land_action(land_admin, request, Land.objects.filter(pk=corpus.land.pk))
    response.render()
    html = response.content.decode()
    for option in ExportRequestSerializer().fields:
        assert f'name="{option}"' in html, option
    assert "Media dataset (zip)" in html
    assert "Merge near-duplicate clusters" in html
    assert "Dynamic graph (timeline)" in html


def test_every_media_graph_option_is_forwarded(rf, admin_user, corpus, land_admin):
    data = {
        "apply": "Export",
        "type": "mediagexf",
        "minrel": "",
        "nodes": "domain",
        "merge_clusters": "on",
        "include_failed": "on",
        "dynamic": "on",
        "dates": "on",  # for page exports only: not forwarded
        "stale_values": "on",  # for the media CSV only: not forwarded
    }
    response = export_land_action(
        land_admin, admin_request(rf, admin_user, data), Land.objects.filter(pk=corpus.land.pk)
    )
    assert isinstance(response, HttpResponseRedirect)
    assert parse_qs(urlsplit(response.url).query) == {
        "type": ["mediagexf"],
        "minrel": ["all"],
        "nodes": ["domain"],
        "merge_clusters": ["true"],
        "include_failed": ["true"],
        "dynamic": ["true"],
    }


@pytest.mark.parametrize(
    ("export_type", "expected"),
    [
        ("pagegexf", {"dates": ["true"]}),
        ("fullpagecsv", {"dates": ["true"], "raw": ["true"]}),
        ("archive", {"stale_values": ["true"], "raw": ["true"]}),
    ],
)
def test_page_dates_and_csv_options_follow_the_type(rf, admin_user, corpus, land_admin, export_type, expected):
    data = {"apply": "Export", "type": export_type, "minrel": "0", "nodes": "page"}
    data |= {"dates": "on", "stale_values": "on", "raw": "on", "dynamic": "on"}
    response = export_land_action(
        land_admin, admin_request(rf, admin_user, data), Land.objects.filter(pk=corpus.land.pk)
    )
    assert isinstance(response, HttpResponseRedirect)
    assert parse_qs(urlsplit(response.url).query) == {"type": [export_type], "minrel": ["0"], **expected}
