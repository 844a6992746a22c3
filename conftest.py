"""Root conftest: plugins shared by the whole suite (environment defaults live in pytest.ini)."""

# The real HTTP test server fixtures (http_server, http_server_factory) for every test.
pytest_plugins = ["tests.support.fixtures"]
