"""Read the pipeline traces of one job (``MEDIA_ANALYSIS_PIPELINE_TRACE``) and print where its time went.

The directory holds one ``pipeline-<pid>.jsonl`` per consumer process (``media_analysis/jobs/trace.py`` says what
each event is) and, when ``bench/land.py --trace`` wrote it, ``job.json`` with the job's trigger and end (wall
clock). Printed, in seconds from the trigger (or from the first event):

* the timeline: first batch submitted, first request started, last request started and ended, last batch ready
  (its last URL has an outcome) and written, the job's end;
* requests, and what bounds them: per host, the busy slot-seconds over the per-host limit (``--limit``) and the
  longest request, whose largest over the hosts is the floor the limit allows with these very durations; the host
  that finished last;
* **idle slots with work waiting**: per host, the slot-seconds during which the host had URLs queued (submitted,
  not started, in any process) and fewer than ``--limit`` requests in progress: what a perfect dispatcher would
  have used; summed over hosts, and for the host that finished last; and **idle slots waiting for a batch not yet
  submitted**: the slot-seconds during which a host had a free slot, nothing queued for it, and URLs of it in
  batches submitted later (work claimed too late);
* the batches' writes (count, total and longest seconds), the workers' waits for room, the dispatcher's counters;
* **where a request's time goes**, when the directory holds ``server.json`` (``bench/land.py --trace`` writes it:
  per URL, when the server read the request's head and wrote its response, wall clock, and the latency drawn
  for it): for the 304s and for the bodies apart, the mean seconds from the dispatch to the request's thread
  running, from then to the server reading its head (the request built and sent), at the server beyond the
  drawn latency, and from the response written to the request's end in the consumer (read, parsed, the slot
  released); and their sum over the requests, against the drawn latencies' sum;
* with ``--timeline``, one line per ``--step`` seconds: requests in progress and URLs queued, over all hosts.

    .venv/bin/python bench/pipeline_trace.py DIRECTORY [--limit 4] [--timeline] [--step 1.0]
"""

from __future__ import annotations

import argparse
import heapq
import json
from collections import defaultdict
from pathlib import Path
from typing import Any


def load(directory: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for index, path in enumerate(sorted(directory.glob("pipeline-*.jsonl"))):
        for line in path.read_text().splitlines():
            if line.strip():
                event = json.loads(line)
                event["p"] = index
                events.append(event)
    events.sort(key=lambda e: e["t"])
    job_path = directory / "job.json"
    job = json.loads(job_path.read_text()) if job_path.exists() else {}
    server_path = directory / "server.json"
    if server_path.exists():
        job["server"] = json.loads(server_path.read_text())
    return events, job


# The parts of a request's time, in order (see ``request_parts``).
PARTS = ("thread", "send", "server_late", "receive")


def request_parts(start: dict[str, Any], end: dict[str, Any], server: list[float]) -> dict[str, float] | None:
    """One request's time split at the server's timestamps (``server``: head read, response written, latency).

    ``thread``: dispatch to its thread running; ``send``: from then to the server reading its head; ``latency``:
    what the server was told to wait; ``server_late``: the server's time beyond it; ``receive``: from the response
    written to the request's end in the consumer. None for a stalled URL or one without timings.
    """
    head, written, latency = server
    if latency is None or latency == float("inf") or "run" not in end:
        return None
    thread = end["run"]
    return {
        "total": end["t"] - start["t"],
        "thread": thread,
        "send": head - start["t"] - thread,
        "latency": latency,
        "server_late": written - head - latency,
        "receive": end["t"] - written,
    }


def lpt(durations: list[float], slots: int) -> float:
    """The makespan of the longest-first schedule of ``durations`` on ``slots``."""
    ends = [0.0] * slots
    for duration in sorted(durations, reverse=True):
        heapq.heapreplace(ends, ends[0] + duration)
    return max(ends)


def analyse(directory: Path, limit: int = 4, step: float = 1.0) -> dict[str, Any]:
    events, job = load(directory)
    if not events:
        return {"events": 0}
    t0 = job.get("triggered", events[0]["t"])
    started: dict[tuple[int, int], dict[str, Any]] = {}
    durations: dict[str, list[float]] = defaultdict(list)
    # Per host, the changes of (queued, in progress) in time order.
    changes: dict[str, list[tuple[float, int, int]]] = defaultdict(list)
    writes: list[float] = []
    rooms: list[float] = []
    dispatch: dict[str, float] = defaultdict(float)
    kinds: dict[str, int] = defaultdict(int)
    server: dict[str, list[float]] = job.get("server", {})
    breakdown: dict[str, list[dict[str, float]]] = defaultdict(list)
    first = {"submit": None, "start": None}
    last = {"start": None, "end": None, "ready": None, "written": None}
    for event in events:
        t, kind = event["t"] - t0, event["e"]
        if kind == "submit":
            first["submit"] = t if first["submit"] is None else first["submit"]
            for host, count in event["hosts"].items():
                changes[host].append((t, count, 0))
        elif kind == "start":
            first["start"] = t if first["start"] is None else first["start"]
            last["start"] = t
            started[(event["p"], event["n"])] = event
            changes[event["host"]].append((t, -1, 1))
        elif kind == "end":
            last["end"] = t
            begin = started.pop((event["p"], event["n"]), None)
            if begin is not None:
                durations[event["host"]].append(event["t"] - begin["t"])
                timed = server.get(begin.get("url", ""))
                parts = request_parts(begin, event, timed) if timed else None
                if parts is not None:
                    breakdown[event.get("kind", "?")].append(parts)
            changes[event["host"]].append((t, 0, -1))
            kinds[event.get("kind", "?")] += 1
        elif kind == "ready":
            last["ready"] = t
        elif kind == "written":
            last["written"] = t
            writes.append(event["seconds"])
        elif kind == "room":
            rooms.append(event["seconds"])
        elif kind == "dispatch":
            for name, value in event.items():
                if name not in ("t", "e", "p"):
                    dispatch[name] += value
    idle: dict[str, float] = {}
    unsubmitted: dict[str, float] = {}
    busy: dict[str, float] = {}
    ended: dict[str, float] = {}
    for host, host_changes in changes.items():
        queued = running = 0
        # URLs of this host that later batches will bring (in any process): a free slot with nothing queued
        # then waits for a batch not yet submitted.
        later = sum(dq for _, dq, _ in host_changes if dq > 0)
        previous = None
        idle[host] = busy[host] = unsubmitted[host] = 0.0
        for t, dq, dr in host_changes:
            if previous is not None:
                span = t - previous
                free = max(0, limit - running)
                idle[host] += span * min(queued, free)
                unsubmitted[host] += span * min(max(0, free - queued), later)
                busy[host] += span * running
            queued += dq
            running += dr
            if dq > 0:
                later -= dq
            previous = t
            if dr < 0:
                ended[host] = t
    floors = {h: max(sum(d) / limit, max(d)) for h, d in durations.items() if d}
    lpts = {h: lpt(d, limit) for h, d in durations.items() if d}
    last_host = max(ended, key=lambda h: ended[h]) if ended else None
    result: dict[str, Any] = {
        "events": len(events),
        "processes": len({e["p"] for e in events}),
        "first_submit": first["submit"],
        "first_start": first["start"],
        "last_start": last["start"],
        "last_end": last["end"],
        "last_ready": last["ready"],
        "last_written": last["written"],
        "job_end": job["finished"] - t0 if "finished" in job else None,
        "requests": sum(len(d) for d in durations.values()),
        "outcomes": dict(kinds),
        "slot_seconds": sum(busy.values()),
        "floor": max(floors.values()) if floors else 0.0,
        "floor_host": max(floors, key=lambda h: floors[h]) if floors else None,
        "lpt_floor": max(lpts.values()) if lpts else 0.0,
        "mean_floor": sum(busy.values()) / (limit * max(1, len(busy))),
        "idle_with_work": sum(idle.values()),
        "idle_for_later_batches": sum(unsubmitted.values()),
        "last_host": last_host,
        "last_host_end": ended.get(last_host) if last_host else None,
        "last_host_floor": floors.get(last_host) if last_host else None,
        "last_host_idle_with_work": idle.get(last_host) if last_host else None,
        "last_host_idle_for_later_batches": unsubmitted.get(last_host) if last_host else None,
        "writes": len(writes),
        "write_seconds": sum(writes),
        "longest_write": max(writes, default=0.0),
        "room_waits": len(rooms),
        "room_seconds": sum(rooms),
        "dispatch": dict(dispatch),
    }
    result["timeline"] = timeline(changes, step)
    result["requests_split"] = {
        kind: {name: sum(p[name] for p in rows) for name in ("total", "latency", *PARTS)} | {"count": len(rows)}
        for kind, rows in breakdown.items()
    }
    return result


def timeline(changes: dict[str, list[tuple[float, int, int]]], step: float) -> list[tuple[float, int, int]]:
    """(time, requests in progress, URLs queued) over all hosts, sampled every ``step`` seconds."""
    merged = sorted((t, dq, dr) for host_changes in changes.values() for t, dq, dr in host_changes)
    samples: list[tuple[float, int, int]] = []
    queued = running = 0
    at = 0.0
    for t, dq, dr in merged:
        while at < t:
            samples.append((at, running, queued))
            at += step
        queued += dq
        running += dr
    samples.append((at, running, queued))
    return samples


def report(result: dict[str, Any], show_timeline: bool = False) -> str:
    if not result.get("events"):
        return "no trace events"

    def s(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    lines = [
        f"processes {result['processes']}, requests {result['requests']} {result['outcomes']}",
        f"timeline (s from trigger): first submit {s(result['first_submit'])}, first start "
        f"{s(result['first_start'])}, last start {s(result['last_start'])}, last end {s(result['last_end'])}, "
        f"last batch ready {s(result['last_ready'])}, last written {s(result['last_written'])}, "
        f"job end {s(result['job_end'])}",
        f"slot-seconds {result['slot_seconds']:.0f}: mean over hosts / limit {result['mean_floor']:.2f} s; "
        f"floor (largest host's slot-seconds / limit or longest request) {result['floor']:.2f} s "
        f"(host {result['floor_host']}), longest-first on that host's requests {result['lpt_floor']:.2f} s",
        f"idle slots with work waiting: {result['idle_with_work']:.1f} slot-s over all hosts; host finishing last "
        f"{result['last_host']} at {s(result['last_host_end'])} s (its floor {s(result['last_host_floor'])} s, idle "
        f"with work {s(result['last_host_idle_with_work'])} slot-s)",
        f"idle slots waiting for a batch not yet submitted: {result['idle_for_later_batches']:.1f} slot-s over all "
        f"hosts, {s(result['last_host_idle_for_later_batches'])} for the host finishing last",
        f"writes {result['writes']}: {result['write_seconds']:.2f} s in all, longest {result['longest_write']:.3f} s; "
        f"room waits {result['room_waits']}: {result['room_seconds']:.2f} s",
        "dispatcher: "
        + ", ".join(
            f"{k} {v:.3f}" if k.endswith("seconds") else f"{k} {v:.0f}" for k, v in sorted(result["dispatch"].items())
        ),
    ]
    for kind, split in sorted(result.get("requests_split", {}).items()):
        count = max(1, split["count"])
        over = split["total"] - split["latency"]
        lines.append(
            f"requests answered {kind}: {split['count']}, {split['total']:.1f} s in all against "
            f"{split['latency']:.1f} s drawn (+{over / max(split['latency'], 1e-9):.0%}); mean ms beyond the drawn "
            "latency: "
            + ", ".join(f"{name} {1000 * split[name] / count:.1f}" for name in PARTS)
            + f" (sum {1000 * over / count:.1f})"
        )
    if show_timeline:
        lines.append("t | in progress | queued")
        lines += [f"{t:5.1f} | {running} | {queued}" for t, running, queued in result["timeline"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--limit", type=int, default=4, help="the per-host limit the job ran with")
    parser.add_argument("--timeline", action="store_true")
    parser.add_argument("--step", type=float, default=1.0)
    args = parser.parse_args()
    print(report(analyse(args.directory, args.limit, args.step), args.timeline))


if __name__ == "__main__":
    main()
