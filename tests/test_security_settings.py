"""Settings that refuse an unsafe start, the HTTPS deployment set, and a private var folder."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from medianalyse_site.env import DEVELOPMENT_KEY, env_pair, private_directory, private_file, secret_key

ROOT = Path(__file__).resolve().parents[1]
GOOD_KEY = "k3Y-" + "x" * 60

HTTPS_DEPLOYMENT = {
    "DJANGO_SECRET_KEY": "tF1t9vV8qkC3lZ0aPq7uWm2sYr5eXb4nJh6gDc8oLi1kMz0wQe3rTy7uIo9pAs2dFg",
    "DJANGO_ALLOWED_HOSTS": "medianalyse.example.org",
    "DJANGO_CSRF_TRUSTED_ORIGINS": "https://medianalyse.example.org",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    "DJANGO_SECURE_SSL_REDIRECT": "1",
    "DJANGO_SESSION_COOKIE_SECURE": "1",
    "DJANGO_CSRF_COOKIE_SECURE": "1",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "DJANGO_SECURE_HSTS_PRELOAD": "1",
}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _bare_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """The process environment without any Django setting of ours, plus ``values``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "HUEY_")) and k != "MEDIANALYSE_VAR_DIR"
    }
    env.update(MEDIANALYSE_VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="medianalyse_site.settings")
    env.update(values)
    return env


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


# --- The secret key ------------------------------------------------------------


def test_a_missing_key_is_refused_with_debug_off_and_says_how_to_make_one(monkeypatch):
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)

    with pytest.raises(ImproperlyConfigured) as caught:
        secret_key("DJANGO_SECRET_KEY", debug=False)

    message = str(caught.value)
    assert "DJANGO_SECRET_KEY is not set" in message
    assert "python -c 'import secrets; print(secrets.token_urlsafe(50))'" in message
    assert "get_random_secret_key" in message


@pytest.mark.parametrize("value", ["", "   ", "insecure-development-key-change-me-in-production"])
def test_an_empty_or_published_key_is_refused(monkeypatch, value):
    monkeypatch.setenv("DJANGO_SECRET_KEY", value)

    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY"):
        secret_key("DJANGO_SECRET_KEY", debug=False)


def test_debug_runs_on_a_development_key_and_a_given_key_always_wins(monkeypatch):
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    assert secret_key("DJANGO_SECRET_KEY", debug=True) == DEVELOPMENT_KEY

    monkeypatch.setenv("DJANGO_SECRET_KEY", GOOD_KEY)
    assert secret_key("DJANGO_SECRET_KEY", debug=False) == GOOD_KEY
    assert secret_key("DJANGO_SECRET_KEY", debug=True) == GOOD_KEY


@pytest.mark.slow
def test_manage_py_refuses_to_start_without_a_key(tmp_path):
    result = _manage(_bare_env(tmp_path), "check")

    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY is not set" in result.stderr
    assert "and DJANGO_DEBUG is off" in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr


def test_a_key_kept_in_the_key_file_is_used_when_the_variable_is_unset(monkeypatch, tmp_path):
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    key_file = tmp_path / "secret_key"
    key_file.write_text(GOOD_KEY + "\n")

    assert secret_key("DJANGO_SECRET_KEY", debug=False, key_file=key_file) == GOOD_KEY
    monkeypatch.setenv("DJANGO_SECRET_KEY", "another-" + GOOD_KEY)
    assert secret_key("DJANGO_SECRET_KEY", debug=False, key_file=key_file) == "another-" + GOOD_KEY
    monkeypatch.delenv("DJANGO_SECRET_KEY")
    with pytest.raises(ImproperlyConfigured, match="nor kept in"):
        secret_key("DJANGO_SECRET_KEY", debug=False, key_file=tmp_path / "missing")


@pytest.mark.slow
def test_manage_py_commands_find_the_key_the_scripts_keep(tmp_path):
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "secret_key").write_text(GOOD_KEY)
    result = _manage(_bare_env(tmp_path), "check")

    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_manage_py_starts_without_a_key_when_debug_is_on(tmp_path):
    result = _manage(_bare_env(tmp_path, DJANGO_DEBUG="1"), "check")

    assert result.returncode == 0, result.stderr


# --- Behind HTTPS ----------------------------------------------------------------


def test_the_proxy_header_is_two_values(monkeypatch):
    monkeypatch.setenv("PROXY", "HTTP_X_FORWARDED_PROTO, https")
    assert env_pair("PROXY") == ("HTTP_X_FORWARDED_PROTO", "https")
    monkeypatch.setenv("PROXY", "")
    assert env_pair("PROXY") is None
    monkeypatch.setenv("PROXY", "HTTP_X_FORWARDED_PROTO")
    with pytest.raises(ImproperlyConfigured, match="two comma-separated values"):
        env_pair("PROXY")


@pytest.mark.slow
def test_the_deploy_check_is_clean_with_the_https_settings(tmp_path):
    result = _manage(_bare_env(tmp_path, **HTTPS_DEPLOYMENT), "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
def test_the_deploy_check_warns_without_them(tmp_path):
    # The counterpart of the test above: the check does look at these settings.
    env = _bare_env(tmp_path, DJANGO_SECRET_KEY=HTTPS_DEPLOYMENT["DJANGO_SECRET_KEY"])
    result = _manage(env, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr


# --- The var folder ----------------------------------------------------------------


def test_private_directory_and_file_are_the_owners_only(tmp_path):
    old_umask = os.umask(0o022)
    try:
        folder = private_directory(tmp_path / "a" / "var")
        private_file(folder / "db.sqlite3")
        private_file(tmp_path / "missing-folder" / "db.sqlite3")
    finally:
        os.umask(old_umask)

    assert _mode(folder) == 0o700
    assert _mode(folder / "db.sqlite3") == 0o600
    assert not (tmp_path / "missing-folder").exists()


def test_an_existing_folder_keeps_its_mode(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)

    private_directory(shared)

    assert _mode(shared) == 0o755


@pytest.mark.slow
def test_the_database_and_the_var_folder_are_created_readable_by_their_owner_only(tmp_path):
    env = _bare_env(tmp_path, DJANGO_SECRET_KEY=GOOD_KEY)
    var = tmp_path / "var"

    result = subprocess.run(
        ["sh", "-c", f"umask 022 && exec {sys.executable} manage.py migrate -v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert result.returncode == 0, result.stderr
    assert _mode(var) == 0o700
    database = var / "medianalyse.sqlite3"
    assert database.stat().st_size > 0  # migrated, not only created
    files = [database, var / "huey.sqlite3", *var.glob("medianalyse.sqlite3-*")]
    assert {path.name: _mode(path) for path in files} == {path.name: 0o600 for path in files}


# --- The laptop scripts' key ----------------------------------------------------------


def _source_secret_key(env: dict[str, str]) -> str:
    script = 'ROOT="$1"; source scripts/_secret_key.sh; printf %s "$DJANGO_SECRET_KEY"'
    env = {**env, "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"}
    done = subprocess.run(
        ["bash", "-c", script, "bash", str(ROOT)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


@pytest.mark.slow
def test_serve_and_demo_keep_a_generated_key_in_the_var_folder(tmp_path):
    env = _bare_env(tmp_path)

    first = _source_secret_key(env)
    second = _source_secret_key(env)

    key_file = tmp_path / "var" / "secret_key"
    assert first == second == key_file.read_text().strip()
    assert len(first) >= 50
    assert _mode(key_file) == 0o600
    assert _mode(tmp_path / "var") == 0o700
    assert _source_secret_key({**env, "DJANGO_SECRET_KEY": GOOD_KEY}) == GOOD_KEY
