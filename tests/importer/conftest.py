"""Fixtures of the importer tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.importer.messy_land import MessyDatabase, build_messy_database


@pytest.fixture
def messy_db(tmp_path: Path) -> MessyDatabase:
    return build_messy_database(tmp_path / "mwi.db", "full")
