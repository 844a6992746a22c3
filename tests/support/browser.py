"""What the browser tests share: Chromium driven by Playwright, the collected static files, a daphne server.

The fixtures (``static_root``, ``browser``, ``server``) are made available to
tests/liveui through its conftest; the helpers are imported from here.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from django.db import connection

from tests.conftest import require_service
from tests.support.processes import ROOT, child_env, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = ROOT / "test-artifacts"


def chromium_available() -> bool:
    return Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def save_screenshot(page, name: str, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def wait_for_other_sessions_to_end(timeout: float = 30) -> None:
    """PostgreSQL drops the test database at the end only once the servers' sessions are gone.

    A server stopped on a busy machine may take seconds to close its session; if one
    lingers past the timeout, the failure names it.
    """
    if connection.vendor != "postgresql":
        return
    others = (
        "SELECT pid, application_name, state, left(query, 120) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )

    def sessions() -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(others)
            return cursor.fetchall()

    try:
        wait_until(lambda: not sessions(), timeout, interval=0.1, what="the servers' database sessions to close")
    except AssertionError as timed_out:
        raise AssertionError(f"{timed_out}; still open: {sessions()}") from None


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process's group, SIGKILL if it has not ended within 10 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@pytest.fixture(scope="module")
def static_root(tmp_path_factory) -> Path:
    """Collected once per module: the servers run without DEBUG and whitenoise serves STATIC_ROOT."""
    root = tmp_path_factory.mktemp("static")
    env = {**os.environ, "DJANGO_STATIC_ROOT": str(root), "MEDIANALYSE_VAR_DIR": str(root.parent / "var-static")}
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return root


@pytest.fixture
def browser():
    require_service(chromium_available(), f"Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@contextmanager
def running_daphne(env: dict[str, str], logs: Path) -> Iterator[str]:
    """Daphne serving the project with ``env``, its log in ``logs``: the base URL, until the block ends."""
    port = free_port()
    log = open(logs / "daphne.log", "ab")  # noqa: SIM115 (closed below)
    daphne = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "medianalyse_site.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert daphne.poll() is None, (logs / "daphne.log").read_text(errors="replace")
        try:
            return requests.get(f"{base}/admin/login/", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(ready, 20, interval=0.2, what="daphne to answer")
        yield base
    finally:
        stop_process_group(daphne)
        log.close()


@pytest.fixture
def server(transactional_db, tmp_path, static_root) -> Iterator[str]:
    """Daphne on the test's database, without DEBUG: the base URL; no consumer runs."""
    env = child_env(tmp_path, None, DJANGO_STATIC_ROOT=str(static_root), MEDIANALYSE_LOG_LEVEL="WARNING")
    try:
        with running_daphne(env, tmp_path) as base:
            yield base
    finally:
        wait_for_other_sessions_to_end()
