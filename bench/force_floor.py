"""The floor a forced re-analysis of the web land can reach, per plan: how the order of the plan moves it.

No server, no consumer: from ``bench/land.py``'s catalogue (same seed, hosts and land sizes, so the same URLs,
latencies and validators as its web lands), each web land's URLs are dealt into chunks by
``jobs.service.interleaved_chunks`` as a forced re-analysis plans them, then each host's requests are run in that
order on the per-host limit's slots (a request starts when a slot frees; a stalled URL holds its slot for the
body-start timeout). Printed, per land and per plan:

* the busiest host's end in the plan's order (the job cannot end before it, whatever the pipeline does), and the
  longest-first bound of the same host (the best any order can do);
* where the URLs that need a full download and an analysis sit in the plan (the last one's position).

Plans compared: ``before`` (timed-out URLs first, then the hosts in turn: the plan before ranks and response
times), ``ranks`` (full downloads before conditional requests, response times unknown), ``times`` (ranks, and the
response times the web phase stored, as ``batch.response_class`` keeps them).

    .venv/bin/python bench/force_floor.py [--media 2000] [--hosts 40] [--seed 0] [--consumers 1,2] [--limit 4]
"""

from __future__ import annotations

import argparse
import heapq
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medianalyse_site.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-force-floor")
    os.environ.setdefault("MEDIANALYSE_VAR_DIR", tempfile.mkdtemp(prefix="medianalyse-force-floor-"))
    import django

    django.setup()


def host_end(durations: list[float], slots: int) -> float:
    """When the last of ``durations``, started in this order on ``slots`` slots, ends."""
    ends = [0.0] * slots
    for duration in durations:
        heapq.heapreplace(ends, ends[0] + duration)
    return max(ends)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=int, default=2000)
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--consumers", default="1,2")
    parser.add_argument("--limit", type=int, default=4)
    parser.add_argument("--chunk-size", type=int, default=100)
    args = parser.parse_args()
    setup_django()

    from bench import _web
    from bench.land import web_plan
    from media_analysis.jobs import batch as media_batch
    from media_analysis.jobs import service as jobs

    plan_args = argparse.Namespace(
        seed=args.seed,
        pool=25,
        consumers=[int(c) for c in args.consumers.split(",")],
        media=args.media,
        hosts=args.hosts,
        dup_share=0.3,
        phases=["web", "force"],
        big=0,
    )
    plan = web_plan(plan_args)
    stall = float(os.environ.get("MEDIA_ANALYSIS_BODY_START_TIMEOUT", "5.0"))
    entries = plan.catalogue.entries
    print(f"busiest host's end in the plan's order, per-host limit {args.limit}, stalls held {stall:.0f} s")
    print("| land | plan | busiest host's end | its longest-first bound | last full download's place |")
    print("|---|---|---:|---:|---:|")
    for consumers in plan_args.consumers:
        ids = plan.lands[f"web-{consumers}"].ids
        url_of = {i: plan.catalogue.url(i, 8000, plan.formats) for i in ids}
        latency = {i: stall if entries[i].stalled else entries[i].latency for i in ids}

        def rank(i: int) -> int:
            if entries[i].stalled:
                return jobs.DEAL_SLOW
            return jobs.DEAL_CONDITIONAL if entries[i].validators else jobs.DEAL_BODY

        variants: dict[str, list[tuple[int, str, int, float | None]]] = {
            "before": [(i, url_of[i], jobs.DEAL_SLOW if entries[i].stalled else jobs.DEAL_BODY, None) for i in ids],
            "ranks": [(i, url_of[i], rank(i), None) for i in ids],
            "times": [(i, url_of[i], rank(i), media_batch.response_class(latency[i])) for i in ids],
        }
        for name, rows in variants.items():
            rows.sort(key=lambda row: (row[1], row[0]))
            order = [i for chunk in jobs.interleaved_chunks(rows, args.chunk_size) for i in chunk]
            per_host: dict[int, list[float]] = {}
            for i in order:
                per_host.setdefault(entries[i].host, []).append(latency[i])
            ends = {host: host_end(durations, args.limit) for host, durations in per_host.items()}
            busiest = max(ends, key=lambda host: ends[host])
            bound = max(host_end(sorted(d, reverse=True), args.limit) for d in per_host.values())
            bodies = [place for place, i in enumerate(order) if rank(i) != jobs.DEAL_CONDITIONAL]
            print(
                f"| web, {consumers} consumer(s) | {name} | {ends[busiest]:.1f} s ({_web.host_address(busiest)}) "
                f"| {bound:.1f} s | {max(bodies) + 1} of {len(order)} |"
            )


if __name__ == "__main__":
    main()
