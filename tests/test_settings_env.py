import pytest
from django.core.exceptions import ImproperlyConfigured

from medianalyse_site.env import database_from_url, env_bool, env_list


def test_postgres_url_is_split_into_a_databases_entry():
    entry = database_from_url("postgres://app:s%40cret@127.0.0.1:5432/app")
    assert entry["ENGINE"] == "django.db.backends.postgresql"
    assert (entry["USER"], entry["PASSWORD"], entry["HOST"], entry["PORT"], entry["NAME"]) == (
        "app",
        "s@cret",
        "127.0.0.1",
        "5432",
        "app",
    )


def test_sqlite_urls_accept_relative_and_absolute_paths():
    assert database_from_url("sqlite:///var/db.sqlite3")["NAME"] == "var/db.sqlite3"
    assert database_from_url("sqlite:////tmp/db.sqlite3")["NAME"] == "/tmp/db.sqlite3"


def test_unknown_database_scheme_is_a_clear_error():
    with pytest.raises(ImproperlyConfigured, match="mysql"):
        database_from_url("mysql://x@y/z")


def test_booleans_are_strict(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG") is True
    monkeypatch.setenv("FLAG", "0")
    assert env_bool("FLAG") is False
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        env_bool("FLAG")


def test_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("HOSTS", " 127.0.0.1, ::1 ,,")
    assert env_list("HOSTS") == ["127.0.0.1", "::1"]


def test_huey_immediate_is_not_derived_from_debug(settings):
    assert "immediate" in settings.HUEY
    assert settings.HUEY["immediate"] == settings.HUEY_IMMEDIATE
