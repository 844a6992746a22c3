"""A first import's memory, process by process: ``import_mywi`` of the scale bench's legacy file, its resident
size sampled through the run.

    .venv/bin/python bench/import_memory.py [--media 100000] [--var-dir /tmp/medianalyse-scalebench]
                                            [--databases sqlite,postgresql] [--every 0.5] [--checksum]

Uses (or writes) the legacy file of ``bench/scale.py`` for ``--media``, migrates a fresh database (SQLite in the
scratch directory; PostgreSQL when DATABASE_URL is set, a scratch database ``<name>_scale`` beside it), then runs
``manage.py import_mywi`` and reads ``/proc/PID/status`` (VmRSS, VmHWM) of the command and of every process it
forks, every ``--every`` seconds. Prints, per database: wall time, CPU (user + sys of the command and the
processes it reaped), the peak resident size of each process (its VmHWM, the kernel's own high-water mark, read
last just before the process ended), ``wait4``'s peak (the largest process), and the command's resident size
over time. With ``--checksum``, ``bench/import_checksum.py``'s lines of the imported database follow, and the
command's summary.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scale import ROOT, Target, each_target, ready_legacy


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB (empty once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(part) for part in text.split()]


@dataclass
class Run:
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    maxrss_mib: float = 0.0
    # pid -> highest VmHWM seen (KiB), in the order the processes were first seen.
    hwm: dict[int, int] = field(default_factory=dict)
    # (seconds since start, the command's VmRSS in KiB, the largest child's VmRSS in KiB)
    timeline: list[tuple[float, int, int]] = field(default_factory=list)
    output: str = ""


def import_sampled(target: Target, legacy: Path, every: float) -> Run:
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--verbosity", "0"], env=target.env, cwd=ROOT, check=True
    )
    run = Run()
    started = time.perf_counter()
    out_path = Path(target.env["MEDIANALYSE_VAR_DIR"]) / "import-output.txt"
    with out_path.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "import_mywi", str(legacy), "--no-progress"],
            env=target.env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            now = time.perf_counter() - started
            own = _status(process.pid)
            if own:
                run.hwm[process.pid] = max(run.hwm.get(process.pid, 0), own.get("VmHWM", 0))
            largest_child = 0
            for child in _children(process.pid):
                values = _status(child)
                if values:
                    run.hwm[child] = max(run.hwm.get(child, 0), values.get("VmHWM", 0))
                    largest_child = max(largest_child, values.get("VmRSS", 0))
            run.timeline.append((now, own.get("VmRSS", 0), largest_child))
            time.sleep(every)
    run.seconds = time.perf_counter() - started
    run.cpu_seconds = usage.ru_utime + usage.ru_stime
    run.maxrss_mib = usage.ru_maxrss / 1024
    run.output = out_path.read_text()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"import_mywi failed on {target.name}:\n{run.output}")
    return run


def checksum(target: Target) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "import_checksum.py")],
        env=target.env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def report(target: Target, run: Run, *, with_checksum: bool) -> None:
    print(
        f"{target.name}: wall {run.seconds:.1f} s, CPU {run.cpu_seconds:.1f} s, peak (wait4) {run.maxrss_mib:.0f} MiB"
    )
    for index, (pid, hwm) in enumerate(run.hwm.items()):
        role = "command" if index == 0 else "forked"
        print(f"  {role} {pid}: VmHWM {hwm / 1024:.1f} MiB")
    # Ten points of the command's resident size over the run, and its largest child's.
    step = max(1, len(run.timeline) // 10)
    points = run.timeline[::step] + run.timeline[-1:]
    print(
        "  RSS over time (s: command / child MiB): "
        + ", ".join(f"{at:.0f}: {own / 1024:.0f}/{child / 1024:.0f}" for at, own, child in points)
    )
    if with_checksum:
        print("".join(f"  {line}\n" for line in checksum(target).splitlines()), end="")
        print("".join(f"  | {line}\n" for line in run.output.splitlines() if not line.startswith("Imported ")), end="")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--media", type=int, default=100_000, help="Media of the land (default 100,000)")
    parser.add_argument("--var-dir", default="/tmp/medianalyse-scalebench", help="Scratch directory")
    parser.add_argument("--databases", default="sqlite,postgresql", help="Among sqlite and postgresql")
    parser.add_argument("--every", type=float, default=0.5, help="Seconds between samples")
    parser.add_argument("--checksum", action="store_true", help="Print the imported tables' checksums")
    options = parser.parse_args()
    var_dir = Path(options.var_dir)
    legacy = ready_legacy(var_dir, options.media)
    print(f"{options.media:,} media, {time.strftime('%Y-%m-%d %H:%M:%S')} UTC, load {os.getloadavg()[0]:.1f}")
    for target in each_target(var_dir, options.databases):
        report(target, import_sampled(target, legacy, options.every), with_checksum=options.checksum)
    print(f"load {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
