"""The decode budget's estimate against the measured peak of one analysis, per format and mode.

Each image is built once (blocks of random colours, so that it neither compresses to nothing nor takes long to
encode), then analysed alone in a fresh process after a warm-up analysis of a small image; the peak resident size
over the process's before it (``VmHWM``) is set beside ``engine.image.budget.analysis_memory``'s estimate.

    .venv/bin/python bench/decode_budget.py [--thumbnail 320]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (format, mode, width, height)
IMAGES = (
    ("PNG", "RGB", 4000, 3000),
    ("PNG", "RGBA", 4000, 3000),
    ("WEBP", "RGB", 4000, 3000),
    ("WEBP", "RGBA", 3000, 3000),
    ("BMP", "RGB", 3000, 3000),
    ("PNG", "LA", 3000, 3000),
    ("PNG", "L", 4000, 3000),
    ("PNG", "P", 4000, 3000),
    ("GIF", "P", 3000, 3000),
    ("JPEG", "RGB", 4000, 3000),
    ("JPEG", "L", 4000, 3000),
    ("JPEG", "RGB", 1000, 390),
)

# The peak is read from /proc (VmHWM, this address space's own), not from ru_maxrss, which a process started by a
# larger one inherits across exec.
_MEASURE = """
import json, sys
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
sys.path.insert(0, sys.argv[1])
from media_analysis.engine.image.analyse import AnalysisOptions, analyse_in_process
options = AnalysisOptions(thumbnail_size=int(sys.argv[4]), timeout=None, max_pixels=200_000_000)
analyse_in_process(open(sys.argv[2], "rb").read(), options)
data = open(sys.argv[3], "rb").read()
before = hwm()
analyse_in_process(data, options)
after = hwm()
print(json.dumps({"peak_kib": after - before}))
"""


def build(fmt: str, mode: str, width: int, height: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 255, (height // 8 + 1, width // 8 + 1, 4), dtype=np.uint8)
    pixels = np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8))[:height, :width]
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGBA").convert(mode).save(buffer, fmt)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--thumbnail", type=int, default=320, help="thumbnail size of the options (0: none)")
    args = parser.parse_args()
    from media_analysis.engine.image.analyse import AnalysisOptions
    from media_analysis.engine.image.budget import analysis_memory

    options = AnalysisOptions(thumbnail_size=args.thumbnail, timeout=None, max_pixels=200_000_000)
    mib = 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="decode-budget-") as workdir:
        warm = Path(workdir) / "warm.png"
        warm.write_bytes(build("PNG", "RGB", 300, 200))
        print("| image | measured peak over the base | estimate | estimate / measured |")
        print("|---|---:|---:|---:|")
        for fmt, mode, width, height in IMAGES:
            data = build(fmt, mode, width, height)
            path = Path(workdir) / f"{fmt}-{mode}-{width}x{height}"
            path.write_bytes(data)
            result = subprocess.run(
                [sys.executable, "-c", _MEASURE, str(ROOT), str(warm), str(path), str(args.thumbnail)],
                capture_output=True,
                text=True,
                check=True,
            )
            peak = json.loads(result.stdout.strip().splitlines()[-1])["peak_kib"] * 1024
            estimate = analysis_memory(data, options)
            print(
                f"| {fmt} {mode} {width}x{height} | {peak / mib:.1f} MiB | {estimate / mib:.1f} MiB "
                f"| {estimate / peak if peak else float('inf'):.2f} |"
            )


if __name__ == "__main__":
    main()
