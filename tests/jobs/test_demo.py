import os
import subprocess
import sys

import pytest

from media_analysis.engine.text.tesseract import availability
from tests.support.processes import ROOT


@pytest.mark.slow
def test_the_demo_analyses_its_files_through_a_real_consumer(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "MEDIANALYSE_VAR_DIR": str(tmp_path),
        "HUEY_IMMEDIATE": "0",
        "DJANGO_SECRET_KEY": os.environ["DJANGO_SECRET_KEY"],
        "HUEY_SQLITE_PATH": str(tmp_path / "huey.sqlite3"),
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    result = subprocess.run(
        [sys.executable, "manage.py", "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "completed" in result.stdout
    assert "Counts match the demo files: 21 analysed, 6 failed as expected." in result.stdout
    if availability("fra+eng").available:
        # The captioned picture is read; the photos are skipped by the likelihood test.
        assert "OCR: on" in result.stdout
        assert "caption.jpg: 'READ THE TEXT / IN PICTURES' (eng" in result.stdout
    else:
        assert "OCR: unavailable" in result.stdout
