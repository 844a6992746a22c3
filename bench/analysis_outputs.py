"""Every output of ``analyse_image`` on every benchmark file, written down to compare two trees.

    .venv/bin/python bench/analysis_outputs.py --write before.json     # on one tree
    .venv/bin/python bench/analysis_outputs.py --compare before.json   # on the other

Files: bench/hash_agreement.py's groups (the analysis benchmark's photo groups, web
graphics as PNG, GIF, lossless WebP, BMP, TIFF and small and large JPEGs, JPEGs in
unusual encodings, deep greyscale PNGs). Each file is analysed under several option
sets (the defaults; 320 px thumbnails as JPEG, as WebP, and redecoded at their size);
every field of the result (``as_fields``) and the thumbnail's bytes, size and format
are recorded, or the failure's type and message. ``--compare`` prints each file whose
outputs differ and exits non-zero if any does: a change meant to save time must leave
them all as they were.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))
sys.path.insert(0, str(PROJECT.parent / "shared" / "bench"))

from bench.hash_agreement import build_groups  # noqa: E402
from media_analysis.engine.errors import MediaFailure  # noqa: E402
from media_analysis.engine.image import AnalysisOptions, analyse_image  # noqa: E402

OPTION_SETS = {
    "defaults": AnalysisOptions(),
    "thumbnail jpeg": AnalysisOptions(thumbnail_size=320),
    "thumbnail webp": AnalysisOptions(thumbnail_size=320, thumbnail_webp=True),
    "thumbnail redecoded": AnalysisOptions(thumbnail_size=320, thumbnail_redecode=True),
    "no colours, no EXIF": AnalysisOptions(colors=False, exif=False),
}


def outputs(data: bytes) -> dict[str, Any]:
    """Option set -> every output of the analysis, in JSON form (the thumbnail's bytes as their SHA-256)."""
    found: dict[str, Any] = {}
    for name, options in OPTION_SETS.items():
        try:
            result = analyse_image(data, options)
        except MediaFailure as failure:
            found[name] = {"failure": type(failure).__name__, "message": str(failure), "mime": failure.mime_type}
            continue
        fields = result.as_fields()
        thumbnail = result.thumbnail
        fields["thumbnail"] = (
            None
            if thumbnail is None
            else {
                "data": hashlib.sha256(thumbnail.data).hexdigest(),
                "mime_type": thumbnail.mime_type,
                "size": [thumbnail.width, thumbnail.height],
            }
        )
        # JSON's own round trip, so that a written file and a fresh run compare alike (tuples, floats).
        found[name] = json.loads(json.dumps(fields, default=repr, sort_keys=True))
    return found


def collect(count: int) -> dict[str, dict[str, Any]]:
    every: dict[str, dict[str, Any]] = {}
    for group in build_groups(count):
        for index, data in enumerate(group.files):
            every[f"{group.name} #{index} {hashlib.sha256(data).hexdigest()[:12]}"] = outputs(data)
    return every


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=12, help="photos per benchmark group; graphics scale with it")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path, help="write every output to this JSON file")
    action.add_argument("--compare", type=Path, help="compare every output with this JSON file")
    args = parser.parse_args()
    found = collect(args.count)
    if args.write:
        args.write.write_text(json.dumps(found, sort_keys=True))
        print(f"{len(found)} files, {len(OPTION_SETS)} option sets each: written to {args.write}")
        return
    expected = json.loads(args.compare.read_text())
    differing = [key for key in sorted(set(found) | set(expected)) if found.get(key) != expected.get(key)]
    for key in differing:
        mine, theirs = found.get(key, {}), expected.get(key, {})
        for name in sorted(set(mine) | set(theirs)):
            if mine.get(name) != theirs.get(name):
                fields = mine.get(name) or {}
                before = theirs.get(name) or {}
                changed = sorted(k for k in set(fields) | set(before) if fields.get(k) != before.get(k))
                print(f"differs: {key} [{name}]: {', '.join(changed)}")
    print(f"{len(found)} files, {len(OPTION_SETS)} option sets each: {len(differing)} differ")
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
