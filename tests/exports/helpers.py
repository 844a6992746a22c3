"""Reading exports back the way an analyst's tools do."""

from __future__ import annotations

import csv
import io
import sys
from typing import Any

from exports.services import LandExport, prepare_export
from lands.models import Land


def run_export(land: Land, export_type: str, **params: Any) -> tuple[bytes, LandExport]:
    export = prepare_export(land, export_type, **params)
    return b"".join(export.chunks()), export


def read_csv(data: bytes) -> tuple[list[str], list[list[str]]]:
    previous = csv.field_size_limit(sys.maxsize)
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    finally:
        csv.field_size_limit(previous)
    return rows[0], rows[1:]


def cell(value: Any) -> str:
    """What a database value must look like in a CSV field."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value).replace("\x00", "")
