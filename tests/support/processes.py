"""Start real Huey consumers (and other manage.py commands) as subprocesses of a test.

They see the test's database: the environment built here points them at the
database pytest-django created (a file for SQLite, ``test_<name>`` for
PostgreSQL), so tests that use them need ``transaction=True``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url_for_test_db() -> str:
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return "sqlite:///" + str(Path(settings["NAME"]).resolve())
    user = quote(settings["USER"] or "", safe="")
    password = quote(settings["PASSWORD"] or "", safe="")
    host = settings["HOST"] or "127.0.0.1"
    port = settings["PORT"] or "5432"
    return f"postgres://{user}:{password}@{host}:{port}/{settings['NAME']}"


def child_env(tmp_path: Path, redis_url: str | None = None, **overrides: str) -> dict[str, str]:
    """Environment for a child process: the test database, a private queue, 127.0.0.1 allowed."""
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "HUEY_IMMEDIATE", "DATABASE_URL"}}
    env.update(
        DATABASE_URL=database_url_for_test_db(),
        HUEY_IMMEDIATE="0",
        HUEY_NAME=f"medianalyse-test-{tmp_path.name}",
        HUEY_SQLITE_PATH=str(tmp_path / "huey.sqlite3"),
        MEDIANALYSE_VAR_DIR=str(tmp_path / "var"),
        MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS="127.0.0.1",
        PYTHONUNBUFFERED="1",
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(overrides)
    return env


class Consumer:
    """A ``manage.py run_huey`` process in its own process group."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 2, worker_type: str = "thread") -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "run_huey",
                "--workers",
                str(workers),
                "--worker-type",
                worker_type,
                "--delay",
                "0.1",
                "--max-delay",
                "0.3",
                "--no-periodic",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole group: what a crash or an OOM kill does."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_started(self, timeout: float = 60) -> None:
        """Until Huey says the consumer runs: its imports and Django's setup are behind it."""
        wait_until(
            lambda: "Huey consumer started" in self.log_path.read_text(errors="replace"),
            timeout,
            what=f"consumer {self.process.pid} to start",
        )


def manage(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
