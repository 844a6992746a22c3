"""Typed readers for settings that come from the environment.

Kept apart from settings.py so the parsing rules (what counts as true, how a
database URL is split) are tested once and shared by every setting.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a number") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_pair(name: str) -> tuple[str, str] | None:
    """Two comma-separated values (``HTTP_X_FORWARDED_PROTO,https``), or None when unset or empty."""
    items = env_list(name)
    if not items:
        return None
    if len(items) != 2:
        raise ImproperlyConfigured(f"{name}={os.environ.get(name)!r} is not two comma-separated values")
    return items[0], items[1]


def env_json_object(name: str, default: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON object (``{"bucket_name": "thumbs"}``), or ``default`` when unset or empty."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return dict(default or {})
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ImproperlyConfigured(f"{name} is not a JSON object")
    return value


GENERATE_KEY_HINT = (
    "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))' "
    "(or django.core.management.utils.get_random_secret_key())"
)
# The key printed in settings.py before it was required: public, so never a real key.
_PUBLISHED_KEYS = frozenset({"insecure-development-key-change-me-in-production"})
# Signs sessions and messages only on a development server (DEBUG on), where the
# deploy check flags both the key and DEBUG.
DEVELOPMENT_KEY = "django-insecure-medianalyse-development-only"


def secret_key(name: str, *, debug: bool, key_file: Path | None = None) -> str:
    """The signing key, which a server with DEBUG off refuses to run without.

    A key anyone can read would let them forge session and message cookies, so
    a missing or published one is a configuration error rather than a default.
    Without the variable, a key kept in ``key_file`` is used: ``scripts/serve``
    and ``scripts/demo`` generate one there, readable by its owner only, so that
    every ``manage.py`` command of a laptop install finds the same key.
    """
    value = os.environ.get(name, "").strip()
    if not value and key_file is not None and key_file.is_file():
        value = key_file.read_text().strip()
    if value and value not in _PUBLISHED_KEYS:
        return value
    if debug:
        return DEVELOPMENT_KEY
    problem = "is not set" if not value else "is the key published in the source code"
    kept = f" (nor kept in {key_file})" if key_file is not None and not value else ""
    raise ImproperlyConfigured(
        f"{name} {problem}{kept}, and DJANGO_DEBUG is off: set {name} to a long random secret; {GENERATE_KEY_HINT}"
    )


def private_directory(path: Path) -> Path:
    """Create ``path`` readable by its owner only (it holds the database and API tokens).

    A folder that already exists keeps its mode: it may be one the operator chose
    and shares on purpose.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def private_file(path: Path) -> None:
    """Create an empty ``path`` readable by its owner only, when its folder exists and it does not.

    SQLite accepts an empty file as a new database and gives its -wal and -shm
    files the database file's mode, so creating it first is what keeps all three
    private whatever the umask.
    """
    if not path.parent.is_dir():
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        # Already there (its mode is left as it is), or a read-only folder: SQLite
        # says so itself if the file is ever opened, and commands that never open
        # it (check, collectstatic) still run.
        pass


def database_from_url(url: str) -> dict:
    """Turn ``postgres://user:pass@host:port/name`` or ``sqlite:///path`` into a DATABASES entry."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in {"postgres", "postgresql", "pgsql"}:
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "OPTIONS": options,
            # Persistent connections in production; the suite sets 0 so no thread keeps one open.
            "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
        }
    if scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path
        path = unquote(url[len("sqlite://") :])
        if path.startswith("/") and not path.startswith("//"):
            path = path[1:] or ":memory:"
        elif path.startswith("//"):
            path = path[1:]
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path or ":memory:"}
    raise ImproperlyConfigured(f"DATABASE_URL scheme {scheme!r} is not supported (use postgres:// or sqlite://)")
