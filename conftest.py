"""Root conftest: environment defaults the suite relies on, set before Django loads settings."""

import os

# Tests run tasks inline unless a test starts real consumers itself.
os.environ.setdefault("HUEY_IMMEDIATE", "1")
# Tests download from HTTP servers they start on 127.0.0.1.
os.environ.setdefault("MEDIA_ANALYSIS_ALLOW_PRIVATE_HOSTS", "127.0.0.1,::1,localhost")
# Playwright's sync API runs an event loop in the test thread; the ORM calls the test makes are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# The real HTTP test server fixtures (http_server, http_server_factory) for every test.
pytest_plugins = ["tests.support.fixtures"]
