import json
import os
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.slow
def test_huey_immediate_is_not_derived_from_debug(tmp_path):
    # The settings are read once per process, so load them in a fresh one with DEBUG on and
    # HUEY_IMMEDIATE unset: tasks must still go through the queue.
    env = {k: v for k, v in os.environ.items() if k not in {"HUEY_IMMEDIATE", "DJANGO_SETTINGS_MODULE"}}
    env.update(DJANGO_DEBUG="1", MEDIANALYSE_VAR_DIR=str(tmp_path))
    script = (
        "import json; from medianalyse_site import settings; "
        "print(json.dumps([settings.DEBUG, settings.HUEY_IMMEDIATE, settings.HUEY['immediate']]))"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    debug, immediate_setting, huey_immediate = json.loads(done.stdout.strip().splitlines()[-1])
    assert debug is True
    assert immediate_setting is False
    assert huey_immediate is False
