"""A consumer whose image analysis returns a constant result: ``python bench/_constant_consumer.py run_huey ...``.

Run from the root of the checkout whose code it runs. Every body gets the values of one small image, analysed
once per set of options (without its thumbnail); the downloads, the byte budget, the pipeline and the database
writes stay the real ones. So what remains of the consumer's CPU and memory is what surrounds the analysis, and a
land of 20,000 media goes through in minutes on a loaded machine. ``bench/land_cpu.py --constant-analysis`` and
``bench/land.py --consumer-command "bench/_constant_consumer.py run_huey --workers 2 --worker-type thread"`` use it.
For code with the pipeline and for the code before it: ``media_analysis.jobs.batch.analyse_image`` is what it
replaces. The clustering that follows a job is left out (below).

``BENCH_ANALYSIS_SECONDS`` (default 0) makes each analysis last that long without using the cores (a sleep): the
analyses are then the bound, as the real ones are on a land of large images, while a land of 20,000 media still
takes minutes on a loaded machine.
"""

import dataclasses
import io
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.getcwd())  # the checkout's code, not this script's
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medianalyse_site.settings")

import django

django.setup()

from django.core.management import execute_from_command_line  # noqa: E402
from PIL import Image  # noqa: E402

from media_analysis import tasks  # noqa: E402
from media_analysis.jobs import batch  # noqa: E402

_buffer = io.BytesIO()
Image.new("RGB", (64, 48), (40, 90, 160)).save(_buffer, format="PNG")
_SMALL = _buffer.getvalue()
_real = batch.analyse_image
_results: dict[Any, Any] = {}
_seconds = float(os.environ.get("BENCH_ANALYSIS_SECONDS", "0"))


def _constant(content: bytes, options: Any, **kwargs: Any) -> Any:
    if _seconds > 0:
        time.sleep(_seconds)
    if options not in _results:
        result = _real(_SMALL, options)
        if "thumbnail" in {field.name for field in dataclasses.fields(result)}:
            result = dataclasses.replace(result, thumbnail=None)
        _results[options] = result
    return _results[options]


def install() -> None:
    """Replace the consumer's analysis by the constant one (``bench/_peak_consumer.py`` calls this too)."""
    batch.analyse_image = _constant  # type: ignore[assignment]
    # Every media gets the same hashes, which no real land has: the near-duplicate clustering that follows a job
    # would gather all of them in one cluster, and its cost would hide the consumer's.
    tasks.cluster_land_task = lambda *args, **kwargs: None


if __name__ == "__main__":
    install()
    execute_from_command_line(["manage.py", *sys.argv[1:]])
